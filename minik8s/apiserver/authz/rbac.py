"""The RBAC authorizer: decisions from a snapshot of roles and bindings indexed by subject.

The snapshot is rebuilt from the watch cache after any Role, ClusterRole, RoleBinding or
ClusterRoleBinding event (lazily, at the next decision). In it, bindings are indexed by
subject (`User`/`Group`; a ServiceAccount subject is the user
`system:serviceaccount:<ns>:<name>`), and what one user may do in one namespace is compiled
once into a permission table keyed by (API group, resource): a decision is then a handful of
dict lookups (the exact key and its `*` variants) and a verb check. Tables are cached per
(user, namespace) until the next rebuild.

Rules are resolved as Kubernetes' `DefaultRuleResolver` does: every ClusterRoleBinding, then
the RoleBindings of the request's namespace (which may reference a ClusterRole). A binding to
a missing role grants nothing and its error becomes the denial's reason
(`RBAC: clusterrole.rbac.authorization.k8s.io "x" not found`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from minik8s.api import rbac
from minik8s.api.meta import Object
from minik8s.api.rbac import Rule, go_quote
from minik8s.api.resources import CLUSTERROLEBINDINGS, CLUSTERROLES, ROLEBINDINGS, ROLES
from minik8s.apiserver.authn import user as users
from minik8s.apiserver.authn.user import UserInfo
from minik8s.apiserver.authz.authorizer import Decision, RulesResult
from minik8s.apiserver.requestinfo import Attributes

logger = logging.getLogger(__name__)

RBAC_RESOURCES = frozenset(
    r.plural for r in (ROLES, CLUSTERROLES, ROLEBINDINGS, CLUSTERROLEBINDINGS)
)
MAX_TABLES = 4096
"""Permission tables kept per snapshot; past this the cache starts over."""


@dataclass(frozen=True, slots=True)
class RoleRef:
    kind: str
    name: str
    namespace: str  # of the binding (a Role lives there; "" for ClusterRoleBindings)

    def describe(self) -> str:
        if self.kind == "Role":
            return f'role.rbac.authorization.k8s.io "{self.name}" not found'
        return f'clusterrole.rbac.authorization.k8s.io "{self.name}" not found'


Grant = tuple[Rule, str]
"""A rule and the reason of the decisions it allows (`RBAC: allowed by ClusterRoleBinding …`)."""


@dataclass
class PermissionTable:
    """What one user may do in one namespace, ready for lookups."""

    resources: dict[tuple[str, str], list[Grant]] = field(default_factory=dict)
    """(api group or `*`, resource or `resource/sub` or `*` or `*/sub`) -> rules naming it."""
    non_resource: list[Grant] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def add(self, rule: Rule, reason: str = "RBAC: allowed") -> None:
        self.rules.append(rule)
        if rule.non_resource_urls:
            self.non_resource.append((rule, reason))
        for group in rule.api_groups:
            for resource in rule.resources:
                self.resources.setdefault((group, resource), []).append((rule, reason))

    def allows(self, attrs: Attributes) -> str | None:
        """The reason of the binding that allows the request (None: nothing allows it)."""
        if not attrs.resource_request:
            for rule, reason in self.non_resource:
                if rbac.allows_path(rule, attrs.verb, attrs.path):
                    return reason
            return None
        verb, name, sub = attrs.verb, attrs.name, attrs.subresource
        combined = f"{attrs.resource}/{sub}" if sub else attrs.resource
        candidates = [combined, "*"]
        if sub:
            candidates.append(f"*/{sub}")
        get = self.resources.get
        for group in (attrs.api_group, "*"):
            for resource in candidates:
                for rule, reason in get((group, resource)) or ():
                    if (rbac.ALL in rule.verbs or verb in rule.verbs) and (
                        not rule.resource_names or name in rule.resource_names
                    ):
                        return reason
        return None


class Snapshot:
    """Roles and bindings at one moment, indexed for decisions."""

    def __init__(
        self,
        roles: Iterable[Object],
        cluster_roles: Iterable[Object],
        role_bindings: Iterable[Object],
        cluster_role_bindings: Iterable[Object],
    ) -> None:
        self.cluster_roles = {_name(r): rbac.rules_of(r) for r in cluster_roles}
        self.roles = {(_namespace(r), _name(r)): rbac.rules_of(r) for r in roles}
        self.cluster_bindings: dict[tuple[str, str], list[tuple[RoleRef, str]]] = {}
        self.namespace_bindings: dict[tuple[str, str, str], list[tuple[RoleRef, str]]] = {}
        for binding in cluster_role_bindings:
            ref = _role_ref(binding, "")
            if ref is not None:
                what = f"ClusterRoleBinding {go_quote(_name(binding))}"
                for key, subject in _subject_keys(binding, ""):
                    reason = _allowed_by(what, ref, subject)
                    self.cluster_bindings.setdefault(key, []).append((ref, reason))
        for binding in role_bindings:
            namespace = _namespace(binding)
            ref = _role_ref(binding, namespace)
            if ref is not None:
                what = f"RoleBinding {go_quote(_name(binding) + '/' + namespace)}"
                for (kind, name), subject in _subject_keys(binding, namespace):
                    self.namespace_bindings.setdefault((namespace, kind, name), []).append(
                        (ref, _allowed_by(what, ref, subject))
                    )
        self._tables: dict[tuple[UserInfo, str], PermissionTable] = {}

    def table(self, user: UserInfo, namespace: str) -> PermissionTable:
        key = (user, namespace)
        found = self._tables.get(key)
        if found is None:
            if len(self._tables) >= MAX_TABLES:
                self._tables.clear()
            found = self._tables[key] = self._build(user, namespace)
        return found

    def _build(self, user: UserInfo, namespace: str) -> PermissionTable:
        table = PermissionTable()
        subjects = [("User", user.name), *(("Group", g) for g in user.groups)]
        refs: list[tuple[RoleRef, str]] = []
        for subject in subjects:
            refs += self.cluster_bindings.get(subject, ())
        if namespace:
            for kind, name in subjects:
                refs += self.namespace_bindings.get((namespace, kind, name), ())
        seen: set[RoleRef] = set()
        for ref, reason in refs:
            if ref in seen:
                continue
            seen.add(ref)
            rules = self._rules(ref)
            if rules is None:
                table.errors.append(ref.describe())
                continue
            for rule in rules:
                table.add(rule, reason)
        return table

    def _rules(self, ref: RoleRef) -> list[Rule] | None:
        if ref.kind == "ClusterRole":
            return self.cluster_roles.get(ref.name)
        return self.roles.get((ref.namespace, ref.name))

    def role_rules(self, kind: str, name: str, namespace: str) -> list[Rule] | None:
        """The rules a binding's roleRef points to (None: the role does not exist)."""
        return self._rules(RoleRef(kind, name, namespace if kind == "Role" else ""))


class RbacAuthorizer:
    """`--authorization-mode RBAC`, over the watch cache's roles and bindings."""

    def __init__(self, source: Any) -> None:
        """`source` has `.cache(resource).objects` (the apiserver's WatchCache)."""
        self.source = source
        self._snapshot: Snapshot | None = None
        self.rebuilds = 0

    def invalidate(self, *_: Any) -> None:
        """Called on every watch-cache event of an RBAC kind (and after a relist)."""
        self._snapshot = None

    def on_event(self, resource: Any, *_: Any) -> None:
        if resource.plural in RBAC_RESOURCES:
            self._snapshot = None

    def snapshot(self) -> Snapshot:
        found = self._snapshot
        if found is None:
            found = self._snapshot = Snapshot(
                self.source.cache(ROLES).objects.values(),
                self.source.cache(CLUSTERROLES).objects.values(),
                self.source.cache(ROLEBINDINGS).objects.values(),
                self.source.cache(CLUSTERROLEBINDINGS).objects.values(),
            )
            self.rebuilds += 1
        return found

    def authorize(self, attrs: Attributes) -> tuple[Decision, str]:
        table = self.snapshot().table(attrs.user, attrs.namespace)
        reason = table.allows(attrs)
        if reason is not None:
            return Decision.ALLOW, reason
        if table.errors:
            return Decision.NO_OPINION, "RBAC: " + _aggregate(table.errors)
        return Decision.NO_OPINION, ""

    def rules_for(self, user: UserInfo, namespace: str) -> RulesResult:
        table = self.snapshot().table(user, namespace)
        resource_rules = [r for r in table.rules if r.resources]
        non_resource = [rule for rule, _ in table.non_resource]
        return RulesResult(resource_rules, non_resource, False, list(table.errors))


def _aggregate(errors: list[str]) -> str:
    """utilerrors.NewAggregate's text: one error as is, several as `[a, b]`."""
    return errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"


def _name(obj: Object) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _namespace(obj: Object) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "")


def _role_ref(binding: Object, namespace: str) -> RoleRef | None:
    ref = binding.get("roleRef") or {}
    kind, name = ref.get("kind"), ref.get("name")
    if kind not in ("Role", "ClusterRole") or not name:
        return None
    if kind == "Role" and not namespace:
        return None
    return RoleRef(str(kind), str(name), namespace if kind == "Role" else "")


def _subject_keys(binding: Object, namespace: str) -> list[tuple[tuple[str, str], str]]:
    """((`User`|`Group`, name), the subject as Kubernetes' `describeSubject` words it)."""
    keys = []
    for subject in binding.get("subjects") or []:
        if not isinstance(subject, dict):
            continue
        kind, name = subject.get("kind"), subject.get("name")
        if not name:
            continue
        if kind in ("User", "Group"):
            keys.append(((str(kind), str(name)), f"{kind} {go_quote(str(name))}"))
        elif kind == "ServiceAccount":
            account_ns = subject.get("namespace") or namespace
            if account_ns:
                key = ("User", f"{users.SERVICE_ACCOUNT_PREFIX}{account_ns}:{name}")
                keys.append((key, f"ServiceAccount {go_quote(f'{name}/{account_ns}')}"))
    return keys


def _allowed_by(binding: str, ref: RoleRef, subject: str) -> str:
    """`RBAC: allowed by ClusterRoleBinding "b" of ClusterRole "r" to User "u"`, the reason
    Kubernetes' RBAC authorizer gives an allowed request (the audit log's annotation)."""
    return f"RBAC: allowed by {binding} of {ref.kind} {go_quote(ref.name)} to {subject}"
