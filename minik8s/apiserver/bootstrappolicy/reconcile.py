"""Reconcile the default roles and bindings at apiserver start (Kubernetes' EnsureRBACPolicy).

What is missing is created. An existing default object annotated
`rbac.authorization.kubernetes.io/autoupdate: "true"` gains what the defaults have and it
lacks — rules, subjects, labels, annotations, aggregation selectors — and nothing it has is
taken away, so an administrator's additions survive restarts; one annotated `"false"` is left
alone. A binding whose roleRef differs (roleRef is immutable) is deleted and created again.
The plan is pure (`plan_role`, `plan_binding`); `reconcile` applies it through the registry.
"""

from __future__ import annotations

import logging

from minik8s.api import bootstraprbac, errors, rbac
from minik8s.api.meta import Object
from minik8s.api.resources import CLUSTERROLEBINDINGS, CLUSTERROLES, ROLES, ResourceType
from minik8s.apiserver import requestcontext
from minik8s.apiserver.authn import user as users
from minik8s.apiserver.authn.user import UserInfo
from minik8s.apiserver.bootstrappolicy import policy
from minik8s.apiserver.registry import DeleteOptions, Registry

logger = logging.getLogger(__name__)

APISERVER_USER = UserInfo("system:apiserver", "", (users.SYSTEM_PRIVILEGED_GROUP,))
"""Who the apiserver's own writes are (Kubernetes' loopback client is in system:masters)."""


def _auto_update(existing: Object) -> bool:
    annotations = (existing.get("metadata") or {}).get("annotations") or {}
    return annotations.get(rbac.AUTO_UPDATE_ANNOTATION) != "false"


def _merge_metadata(expected: Object, result: Object) -> None:
    meta = result.setdefault("metadata", {})
    for key in ("labels", "annotations"):
        wanted = (expected.get("metadata") or {}).get(key) or {}
        meta[key] = {**wanted, **(meta.get(key) or {})}


def plan_role(expected: Object, existing: Object) -> Object | None:
    """The updated role, or None when `existing` needs no change."""
    if not _auto_update(existing):
        return None
    result = {**existing, "metadata": dict(existing.get("metadata") or {})}
    _merge_metadata(expected, result)
    held = rbac.rules_of(existing)
    missing = [
        r for r in expected.get("rules") or [] if rbac.uncovered(held, [rbac.Rule.from_dict(r)])
    ]
    if missing:
        result["rules"] = [*(existing.get("rules") or []), *missing]
    wanted_selectors = rbac.aggregation_selectors(expected)
    if wanted_selectors is not None:
        have = rbac.aggregation_selectors(existing) or []
        add = [s for s in wanted_selectors if s not in have]
        if add or rbac.aggregation_selectors(existing) is None:
            result["aggregationRule"] = {"clusterRoleSelectors": [*have, *add]}
    return None if result == existing else result


def plan_binding(expected: Object, existing: Object) -> tuple[str, Object] | None:
    """("recreate" | "update", object), or None when `existing` needs no change."""
    if not _auto_update(existing):
        return None
    if existing.get("roleRef") != expected.get("roleRef"):
        return "recreate", expected
    result = {**existing, "metadata": dict(existing.get("metadata") or {})}
    _merge_metadata(expected, result)
    subjects = list(existing.get("subjects") or [])
    subjects += [s for s in expected.get("subjects") or [] if s not in subjects]
    if subjects:
        result["subjects"] = subjects
    return None if result == existing else ("update", result)


def expected_objects(bootstrap_token_auth: bool = False) -> list[tuple[ResourceType, Object]]:
    """The default policy: Kubernetes' roles and bindings, and with bootstrap token
    authentication on, what joining with a token needs (`minik8s.api.bootstraprbac`: kubeadm
    makes those in its bootstrap-token phase; the apiserver keeps them so that no admin
    credential has to be handed to a one-shot that creates a token)."""
    wanted: list[tuple[ResourceType, Object]] = [
        *((CLUSTERROLES, role) for role in policy.cluster_roles()),
        *((CLUSTERROLEBINDINGS, binding) for binding in policy.cluster_role_bindings()),
    ]
    if bootstrap_token_auth:
        wanted += [*bootstraprbac.kubeadm_objects(), *bootstraprbac.token_writer_objects()]
    return [
        (resource, {"apiVersion": resource.api_version, "kind": resource.kind, **obj})
        for resource, obj in wanted
    ]


async def reconcile(registry: Registry, bootstrap_token_auth: bool = False) -> None:
    """Apply the default policy; log what changed. Runs as `system:apiserver`."""
    token = requestcontext.USER.set(APISERVER_USER)
    try:
        created = updated = 0
        for resource, obj in expected_objects(bootstrap_token_auth):
            namespace = obj["metadata"].get("namespace")
            name = obj["metadata"]["name"]
            try:
                existing = await registry.get(resource, namespace, name)
            except errors.NotFound:
                await _create(registry, resource, namespace, obj)
                created += 1
                continue
            if resource in (CLUSTERROLES, ROLES):
                change = plan_role(obj, existing)
                if change is not None:
                    await registry.update(resource, namespace, name, change)
                    updated += 1
                continue
            plan = plan_binding(obj, existing)
            if plan is None:
                continue
            how, wanted = plan
            if how == "recreate":
                await registry.delete(resource, namespace, name, DeleteOptions())
                await _create(registry, resource, namespace, wanted)
            else:
                await registry.update(resource, namespace, name, wanted)
            updated += 1
        logger.info("RBAC bootstrap policy: %d created, %d updated", created, updated)
    finally:
        requestcontext.USER.reset(token)


async def _create(
    registry: Registry, resource: ResourceType, namespace: str | None, obj: Object
) -> None:
    try:
        await registry.create(resource, namespace, obj)
    except errors.AlreadyExists:
        pass  # another apiserver made it first
