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
from typing import Any

from minik8s.api import errors, rbac
from minik8s.api.meta import Object
from minik8s.api.resources import CLUSTERROLEBINDINGS, CLUSTERROLES
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


async def reconcile(registry: Registry) -> None:
    """Apply the default policy; log what changed. Runs as `system:apiserver`."""
    token = requestcontext.USER.set(APISERVER_USER)
    try:
        created = updated = 0
        for role in policy.cluster_roles():
            name = role["metadata"]["name"]
            try:
                existing = await registry.get(CLUSTERROLES, None, name)
            except errors.NotFound:
                await _create(registry, CLUSTERROLES, role)
                created += 1
                continue
            change = plan_role(role, existing)
            if change is not None:
                await registry.update(CLUSTERROLES, None, name, change)
                updated += 1
        for binding in policy.cluster_role_bindings():
            name = binding["metadata"]["name"]
            try:
                existing = await registry.get(CLUSTERROLEBINDINGS, None, name)
            except errors.NotFound:
                await _create(registry, CLUSTERROLEBINDINGS, binding)
                created += 1
                continue
            plan = plan_binding(binding, existing)
            if plan is None:
                continue
            how, wanted = plan
            if how == "recreate":
                await registry.delete(CLUSTERROLEBINDINGS, None, name, DeleteOptions())
                await _create(registry, CLUSTERROLEBINDINGS, wanted)
            else:
                await registry.update(CLUSTERROLEBINDINGS, None, name, wanted)
            updated += 1
        logger.info("RBAC bootstrap policy: %d created, %d updated", created, updated)
    finally:
        requestcontext.USER.reset(token)


async def _create(registry: Registry, resource: Any, obj: Object) -> None:
    try:
        await registry.create(resource, None, obj)
    except errors.AlreadyExists:
        pass  # another apiserver made it first
