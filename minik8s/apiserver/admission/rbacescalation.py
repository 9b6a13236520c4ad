"""RBAC escalation prevention: nobody grants, through a role or a binding, what they lack.

As Kubernetes' RBAC storage does: creating or changing a Role/ClusterRole needs the verb
`escalate` on it or every permission it lists; creating or changing a binding needs the verb
`bind` on the referenced role or every permission that role grants (in the binding's
namespace). An aggregated ClusterRole (it can gather anything) needs full authority.
`system:masters` is exempt. The 403 lists what is missing, as Kubernetes words it:

    user "bob" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not
    currently held:
    {APIGroups:[""], Resources:["secrets"], Verbs:["get"]}
"""

from __future__ import annotations

from minik8s.api import rbac
from minik8s.api.meta import Object
from minik8s.api.resources import (
    CLUSTERROLEBINDINGS,
    CLUSTERROLES,
    RBAC_GROUP,
    ROLEBINDINGS,
    ROLES,
    ResourceType,
)
from minik8s.apiserver.admission import DELETE, UPDATE, Request
from minik8s.apiserver.authn import user as users
from minik8s.apiserver.authn.user import UserInfo
from minik8s.apiserver.authz.authorizer import Union
from minik8s.apiserver.authz.forbidden import new_forbidden
from minik8s.apiserver.authz.rbac import RbacAuthorizer
from minik8s.apiserver.requestinfo import Attributes

GC_FIELDS = ("ownerReferences", "finalizers", "resourceVersion", "managedFields", "generation")


def only_gc_fields_changed(new: Object, old: Object) -> bool:
    """Kubernetes' IsOnlyMutatingGCFields: nothing but ownerReferences/finalizers differ."""

    def strip(obj: Object) -> Object:
        meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in GC_FIELDS}
        return {**obj, "metadata": meta}

    return strip(new) == strip(old)


class RbacEscalation:
    resources = frozenset(
        r.plural for r in (ROLES, CLUSTERROLES, ROLEBINDINGS, CLUSTERROLEBINDINGS)
    )

    def __init__(self, authorizer: Union, rbac_authorizer: RbacAuthorizer) -> None:
        self.authorizer = authorizer
        self.rbac = rbac_authorizer

    def validate(self, request: Request) -> None:
        if request.operation == DELETE or users.SYSTEM_PRIVILEGED_GROUP in request.user.groups:
            return
        if (
            request.operation == UPDATE
            and request.old is not None
            and only_gc_fields_changed(request.obj, request.old)
        ):
            return
        meta = request.obj.get("metadata") or {}
        name, namespace = str(meta.get("name") or ""), str(meta.get("namespace") or "")
        if request.resource in (ROLES, CLUSTERROLES):
            self._role(request.resource, request.obj, request.old, request.user, name, namespace)
        else:
            self._binding(request.resource, request.obj, request.user, name, namespace)

    def _allowed(self, user: UserInfo, verb: str, plural: str, name: str, namespace: str) -> bool:
        attrs = Attributes(user, verb, True, namespace, RBAC_GROUP, "v1", plural, "", name)
        return self.authorizer.allowed(attrs)

    def _missing(self, user: UserInfo, namespace: str, wanted: list[rbac.Rule]) -> str | None:
        """Why `user` may not grant `wanted` (None: it holds all of it)."""
        held = self.rbac.rules_for(user, namespace)
        missing = rbac.uncovered(held.resource_rules + held.non_resource_rules, wanted)
        if not missing:
            return None
        described = sorted({r.compact() for r in rbac.compact(missing)})
        text = (
            f"user {rbac.go_quote(user.name)} (groups={rbac.go_quote_list(user.groups)}) is "
            "attempting to grant RBAC permissions not currently held:\n" + "\n".join(described)
        )
        if held.errors:
            text += f"; resolution errors: [{', '.join(held.errors)}]"
        return text

    def _role(
        self,
        resource: ResourceType,
        role: Object,
        old: Object | None,
        user: UserInfo,
        name: str,
        namespace: str,
    ) -> None:
        if self._allowed(user, "escalate", resource.plural, name, namespace):
            return
        why = self._missing(user, namespace, rbac.rules_of(role))
        if why:
            raise new_forbidden(resource.plural, RBAC_GROUP, name, why)
        aggregated = rbac.aggregation_selectors(role) is not None or (
            old is not None and rbac.aggregation_selectors(old) is not None
        )
        if resource is CLUSTERROLES and aggregated:
            if self._missing(user, "", list(rbac.FULL_AUTHORITY)):
                raise new_forbidden(
                    resource.plural,
                    RBAC_GROUP,
                    name,
                    "must have cluster-admin privileges to use the aggregationRule",
                )

    def _binding(
        self, resource: ResourceType, binding: Object, user: UserInfo, name: str, namespace: str
    ) -> None:
        ref = binding.get("roleRef") or {}
        kind, role_name = str(ref.get("kind") or ""), str(ref.get("name") or "")
        role_plural = "clusterroles" if kind == "ClusterRole" else "roles"
        if self._allowed(user, "bind", role_plural, role_name, namespace):
            return
        rules = self.rbac.snapshot().role_rules(kind, role_name, namespace)
        if rules is None:
            singular = "clusterrole" if kind == "ClusterRole" else "role"
            why = f'{singular}.{RBAC_GROUP} "{role_name}" not found'
            raise new_forbidden(resource.plural, RBAC_GROUP, name, why)
        missing = self._missing(user, namespace, rules)
        if missing:
            raise new_forbidden(resource.plural, RBAC_GROUP, name, missing)
