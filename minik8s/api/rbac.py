"""RBAC policy rules as plain data: matching, coverage and aggregation (pure, no I/O).

Shared by the apiserver's RBAC authorizer and escalation checks and by the controller-manager's
clusterrole-aggregation controller. The semantics are Kubernetes' (`rbac/v1` helpers):

- a rule matches a request when its verbs, API groups, resources (`resource/subresource`,
  `*`, or `*/subresource`) and resourceNames (empty: any) all match; non-resource URLs match
  exactly or by a trailing `*` prefix;
- an owner's rules *cover* a servant's rules when every atomic permission of the servant
  (one verb, group, resource, name or URL) is allowed by one owner rule — what a user must
  hold to create a role or binding without the `escalate`/`bind` verbs;
- an aggregated ClusterRole's rules are the union of the rules of the ClusterRoles its
  `aggregationRule.clusterRoleSelectors` select, in name order, without duplicates.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from minik8s.api import selectors
from minik8s.api.meta import Object

GROUP = "rbac.authorization.k8s.io"
API_VERSION = f"{GROUP}/v1"
ALL = "*"
AUTO_UPDATE_ANNOTATION = "rbac.authorization.kubernetes.io/autoupdate"


@dataclass(frozen=True, slots=True)
class Rule:
    """A PolicyRule, with its lists as sets for matching (order kept for printing)."""

    verbs: tuple[str, ...]
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, raw: Object) -> Rule:
        def strings(key: str) -> tuple[str, ...]:
            value = raw.get(key) or ()
            return tuple(str(v) for v in value) if isinstance(value, list) else ()

        return cls(
            strings("verbs"),
            strings("apiGroups"),
            strings("resources"),
            strings("resourceNames"),
            strings("nonResourceURLs"),
        )

    def to_dict(self) -> Object:
        out: Object = {"verbs": list(self.verbs)}
        if self.api_groups or self.resources:
            out["apiGroups"] = list(self.api_groups)
        if self.resources:
            out["resources"] = list(self.resources)
        if self.resource_names:
            out["resourceNames"] = list(self.resource_names)
        if self.non_resource_urls:
            out["nonResourceURLs"] = list(self.non_resource_urls)
        return out

    def compact(self) -> str:
        """Kubernetes' `CompactString`: `{APIGroups:[""], Resources:["pods"], Verbs:["get"]}`."""
        parts = []
        for label, values in (
            ("APIGroups", self.api_groups),
            ("Resources", self.resources),
            ("NonResourceURLs", self.non_resource_urls),
            ("ResourceNames", self.resource_names),
            ("Verbs", self.verbs),
        ):
            if values:
                parts.append(f"{label}:{go_quote_list(values)}")
        return "{" + ", ".join(parts) + "}"


def go_quote_list(values: Iterable[str]) -> str:
    """Go's `%q` of a []string: `["a" "b"]`."""
    return "[" + " ".join(go_quote(v) for v in values) + "]"


def go_quote(value: str) -> str:
    """Go's `%q` of a string (enough for names, which are printable)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def rules_of(role: Object | None) -> list[Rule]:
    if not role:
        return []
    raw = role.get("rules") or []
    return [Rule.from_dict(r) for r in raw if isinstance(r, dict)]


# --- matching a request --------------------------------------------------------------------


def verb_matches(rule: Rule, verb: str) -> bool:
    return ALL in rule.verbs or verb in rule.verbs


def group_matches(rule: Rule, group: str) -> bool:
    return ALL in rule.api_groups or group in rule.api_groups


def resource_matches(rule: Rule, resource: str, subresource: str) -> bool:
    combined = f"{resource}/{subresource}" if subresource else resource
    for allowed in rule.resources:
        if allowed == ALL or allowed == combined:
            return True
        if subresource and allowed == f"*/{subresource}":
            return True
    return False


def name_matches(rule: Rule, name: str) -> bool:
    return not rule.resource_names or name in rule.resource_names


def url_matches(rule: Rule, path: str) -> bool:
    for allowed in rule.non_resource_urls:
        if allowed == ALL or allowed == path:
            return True
        if allowed.endswith("*") and path.startswith(allowed[:-1]):
            return True
    return False


def allows_resource(
    rule: Rule, verb: str, group: str, resource: str, subresource: str, name: str
) -> bool:
    return (
        verb_matches(rule, verb)
        and group_matches(rule, group)
        and resource_matches(rule, resource, subresource)
        and name_matches(rule, name)
    )


def allows_path(rule: Rule, verb: str, path: str) -> bool:
    return verb_matches(rule, verb) and url_matches(rule, path)


# --- coverage (escalation prevention) -------------------------------------------------------


def _breakdown(rule: Rule) -> list[Rule]:
    """A rule as atomic rules: one verb x group x resource x name, or one verb x URL."""
    atoms: list[Rule] = []
    for group in rule.api_groups:
        for resource in rule.resources:
            for verb in rule.verbs:
                if rule.resource_names:
                    atoms += [
                        Rule((verb,), (group,), (resource,), (n,)) for n in rule.resource_names
                    ]
                else:
                    atoms.append(Rule((verb,), (group,), (resource,)))
    for url in rule.non_resource_urls:
        atoms += [Rule((verb,), non_resource_urls=(url,)) for verb in rule.verbs]
    return atoms


def _resources_cover(owner: Sequence[str], requested: Sequence[str]) -> bool:
    if ALL in owner:
        return True
    for wanted in requested:
        if wanted in owner:
            continue
        _, sep, sub = wanted.partition("/")
        if sep and f"*/{sub}" in owner:
            continue
        return False
    return True


def _urls_cover(owner: Sequence[str], requested: Sequence[str]) -> bool:
    for wanted in requested:
        if not any(
            o == wanted or (o.endswith("*") and wanted.startswith(o.rstrip("*"))) for o in owner
        ):
            return False
    return True


def _rule_covers(owner: Rule, atom: Rule) -> bool:
    if not (ALL in owner.verbs or set(atom.verbs) <= set(owner.verbs)):
        return False
    if not (ALL in owner.api_groups or set(atom.api_groups) <= set(owner.api_groups)):
        return False
    if not _resources_cover(owner.resources, atom.resources):
        return False
    if not _urls_cover(owner.non_resource_urls, atom.non_resource_urls):
        return False
    if not atom.resource_names:
        return not owner.resource_names
    return not owner.resource_names or set(atom.resource_names) <= set(owner.resource_names)


def uncovered(owner: Sequence[Rule], servant: Sequence[Rule]) -> list[Rule]:
    """The atomic permissions of `servant` that no rule of `owner` allows (empty: covered)."""
    missing = []
    for rule in servant:
        for atom in _breakdown(rule):
            if not any(_rule_covers(o, atom) for o in owner):
                missing.append(atom)
    return missing


def compact(rules: Sequence[Rule]) -> list[Rule]:
    """Merge atoms that differ only in their verbs (Kubernetes' CompactRules), in order."""
    merged: dict[tuple[Any, ...], list[str]] = {}
    for rule in rules:
        key = (rule.api_groups, rule.resources, rule.resource_names, rule.non_resource_urls)
        verbs = merged.setdefault(key, [])
        verbs += [v for v in rule.verbs if v not in verbs]
    return [Rule(tuple(verbs), *key) for key, verbs in merged.items()]


FULL_AUTHORITY = (
    Rule((ALL,), (ALL,), (ALL,)),
    Rule((ALL,), non_resource_urls=(ALL,)),
)
"""What a user must hold to create an aggregated ClusterRole (it can gather anything)."""


# --- aggregation ---------------------------------------------------------------------------


def aggregation_selectors(role: Object) -> list[Object] | None:
    """The `clusterRoleSelectors` of an aggregated ClusterRole; None when it is not one."""
    rule = role.get("aggregationRule")
    if not isinstance(rule, dict):
        return None
    found = rule.get("clusterRoleSelectors")
    return [s for s in found if isinstance(s, dict)] if isinstance(found, list) else []


def aggregated_rules(role: Object, cluster_roles: Iterable[Object]) -> list[Object] | None:
    """The rules an aggregated ClusterRole must hold; None when `role` is not aggregated.

    Rules come from every other ClusterRole one of its selectors matches, by name order,
    each rule once (as the clusterrole-aggregation controller writes them).
    """
    raw_selectors = aggregation_selectors(role)
    if raw_selectors is None:
        return None
    matchers = []
    for raw in raw_selectors:
        try:
            matchers.append(selectors.label_selector_from_object(raw))
        except ValueError:
            continue  # validation refuses these; an old stored one selects nothing
    name = (role.get("metadata") or {}).get("name")
    chosen = sorted(
        (
            other
            for other in cluster_roles
            if (other.get("metadata") or {}).get("name") != name
            and any(m.matches((other.get("metadata") or {}).get("labels")) for m in matchers)
        ),
        key=lambda r: str((r.get("metadata") or {}).get("name")),
    )
    rules: list[Object] = []
    for other in chosen:
        for rule in other.get("rules") or []:
            if rule not in rules:
                rules.append(rule)
    return rules
