"""Validation of Role, ClusterRole, RoleBinding and ClusterRoleBinding (rbac/v1).

Kubernetes' messages: a rule needs verbs; a resource rule needs apiGroups and resources; a
Role's rules cannot name non-resource URLs; a rule cannot mix both; a binding's roleRef is a
Role or ClusterRole of this group (only a ClusterRole for a ClusterRoleBinding) and cannot
change; subjects are Users, Groups or ServiceAccounts (a ClusterRoleBinding's ServiceAccount
names its namespace).
"""

from __future__ import annotations

from typing import Any

from minik8s.api.errors import Cause, not_supported
from minik8s.api.meta import Object
from minik8s.api.validation import formats as fmt
from minik8s.api.validation import meta as meta

GROUP = "rbac.authorization.k8s.io"


def name_is_path_segment(name: str, prefix: bool = False) -> list[str]:
    """RBAC names are path segments (`system:node` is fine; `/`, `%`, `.`, `..` are not)."""
    if name in (".", "..") and not prefix:
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in name]


def _strings(rule: Object, key: str) -> list[Any]:
    value = rule.get(key)
    return value if isinstance(value, list) else []


def validate_rules(obj: Object, namespaced: bool) -> list[Cause]:
    causes: list[Cause] = []
    rules = obj.get("rules")
    if rules is not None and not isinstance(rules, list):
        return [meta.invalid("rules", rules, "must be a list")]
    for i, rule in enumerate(rules or []):
        path = meta.index("rules", i)
        if not isinstance(rule, dict):
            causes.append(meta.invalid(path, rule, "must be an object"))
            continue
        for key in ("verbs", "apiGroups", "resources", "resourceNames", "nonResourceURLs"):
            value = rule.get(key)
            if value is not None and (
                not isinstance(value, list) or not all(isinstance(v, str) for v in value)
            ):
                causes.append(
                    meta.invalid(meta.child(path, key), value, "must be a list of strings")
                )
        if causes:
            continue
        if not _strings(rule, "verbs"):
            causes.append(
                meta.required(meta.child(path, "verbs"), "verbs must contain at least one value")
            )
        urls = _strings(rule, "nonResourceURLs")
        if urls:
            if namespaced:
                causes.append(
                    meta.invalid(
                        meta.child(path, "nonResourceURLs"),
                        urls,
                        "namespaced rules cannot apply to non-resource URLs",
                    )
                )
            if any(_strings(rule, k) for k in ("apiGroups", "resources", "resourceNames")):
                causes.append(
                    meta.invalid(
                        meta.child(path, "nonResourceURLs"),
                        urls,
                        "rules cannot apply to both regular resources and non-resource URLs",
                    )
                )
            continue
        if not _strings(rule, "apiGroups"):
            causes.append(
                meta.required(
                    meta.child(path, "apiGroups"),
                    "resource rules must supply at least one api group",
                )
            )
        if not _strings(rule, "resources"):
            causes.append(
                meta.required(
                    meta.child(path, "resources"),
                    "resource rules must supply at least one resource",
                )
            )
    return causes


def validate_role(role: Object) -> list[Cause]:
    return validate_rules(role, namespaced=True)


def validate_cluster_role(role: Object) -> list[Cause]:
    causes = validate_rules(role, namespaced=False)
    aggregation = role.get("aggregationRule")
    if aggregation is not None:
        if not isinstance(aggregation, dict):
            return [*causes, meta.invalid("aggregationRule", aggregation, "must be an object")]
        selectors = aggregation.get("clusterRoleSelectors")
        if not isinstance(selectors, list) or not selectors:
            causes.append(meta.required("aggregationRule.clusterRoleSelectors"))
        else:
            for i, selector in enumerate(selectors):
                path = meta.index("aggregationRule.clusterRoleSelectors", i)
                if not isinstance(selector, dict):
                    causes.append(meta.invalid(path, selector, "must be an object"))
                else:
                    causes += meta.validate_label_selector(selector, path)
    return causes


def _validate_binding(binding: Object, cluster: bool) -> list[Cause]:
    causes: list[Cause] = []
    ref = binding.get("roleRef")
    if not isinstance(ref, dict):
        return [meta.required("roleRef")]
    if ref.get("apiGroup") != GROUP:
        causes.append(not_supported("roleRef.apiGroup", ref.get("apiGroup") or "", [GROUP]))
    kinds = ["ClusterRole"] if cluster else ["Role", "ClusterRole"]
    if ref.get("kind") not in kinds:
        causes.append(not_supported("roleRef.kind", ref.get("kind") or "", kinds))
    name = ref.get("name")
    if not name or not isinstance(name, str):
        causes.append(meta.required("roleRef.name"))
    else:
        causes += meta.invalid_each("roleRef.name", name, name_is_path_segment(name))
    subjects = binding.get("subjects")
    if subjects is not None and not isinstance(subjects, list):
        return [*causes, meta.invalid("subjects", subjects, "must be a list")]
    for i, subject in enumerate(subjects or []):
        path = meta.index("subjects", i)
        if not isinstance(subject, dict):
            causes.append(meta.invalid(path, subject, "must be an object"))
            continue
        causes += _validate_subject(subject, path, cluster)
    return causes


def _validate_subject(subject: Object, path: str, cluster: bool) -> list[Cause]:
    causes: list[Cause] = []
    name = subject.get("name")
    if not name or not isinstance(name, str):
        causes.append(meta.required(meta.child(path, "name")))
        name = ""
    kind = subject.get("kind")
    group = subject.get("apiGroup") or ""
    if kind == "ServiceAccount":
        if group:
            causes.append(not_supported(meta.child(path, "apiGroup"), group, [""]))
        if name:
            causes += meta.invalid_each(
                meta.child(path, "name"), name, fmt.name_is_dns_subdomain(name)
            )
        if cluster and not subject.get("namespace"):
            causes.append(meta.required(meta.child(path, "namespace")))
    elif kind in ("User", "Group"):
        if group != GROUP:
            causes.append(not_supported(meta.child(path, "apiGroup"), group, [GROUP]))
    else:
        causes.append(
            not_supported(meta.child(path, "kind"), kind or "", ["ServiceAccount", "User", "Group"])
        )
    return causes


def validate_role_binding(binding: Object) -> list[Cause]:
    return _validate_binding(binding, cluster=False)


def validate_cluster_role_binding(binding: Object) -> list[Cause]:
    return _validate_binding(binding, cluster=True)


def validate_binding_update(new: Object, old: Object) -> list[Cause]:
    if new.get("roleRef") != old.get("roleRef"):
        return [meta.invalid("roleRef", new.get("roleRef"), "cannot change roleRef")]
    return []
