"""Small builders for policy objects: rules, ClusterRoles and ClusterRoleBindings."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from minik8s.api.meta import Object
from minik8s.api.rbac import API_VERSION, AUTO_UPDATE_ANNOTATION, GROUP

READ = ("get", "list", "watch")
WRITE = ("create", "update", "patch", "delete", "deletecollection")
READ_WRITE = (*READ, *WRITE)
READ_UPDATE = (*READ, "update", "patch")

LEGACY = ""
APIREGISTRATION = "apiregistration.k8s.io"
APPS = "apps"
AUTHENTICATION = "authentication.k8s.io"
AUTHORIZATION = "authorization.k8s.io"
AUTOSCALING = "autoscaling"
BATCH = "batch"
COORDINATION = "coordination.k8s.io"
DISCOVERY = "discovery.k8s.io"
EVENTS = "events.k8s.io"
EXTENSIONS = "extensions"
NETWORKING = "networking.k8s.io"
POLICY = "policy"
RBAC = GROUP
STORAGE = "storage.k8s.io"

BOOTSTRAP_LABELS = {"kubernetes.io/bootstrapping": "rbac-defaults"}


def rule(
    verbs: Sequence[str],
    groups: Sequence[str],
    resources: Sequence[str],
    names: Sequence[str] = (),
) -> Object:
    out: Object = {"verbs": list(verbs), "apiGroups": list(groups), "resources": list(resources)}
    if names:
        out["resourceNames"] = list(names)
    return out


def url_rule(verbs: Sequence[str], urls: Sequence[str]) -> Object:
    return {"verbs": list(verbs), "nonResourceURLs": list(urls)}


def events_rule() -> Object:
    return rule(("create", "update", "patch"), (LEGACY, EVENTS), ("events",))


def leader_election_rules(*lock_names: str) -> list[Object]:
    """A component that elects a leader: it creates its Lease, then reads and renews only the
    ones named."""
    return [
        rule(("create",), (COORDINATION,), ("leases",)),
        rule(("get", "update"), (COORDINATION,), ("leases",), lock_names),
    ]


def _metadata(name: str, labels: dict[str, str] | None = None) -> Object:
    return {
        "name": name,
        "labels": {**BOOTSTRAP_LABELS, **(labels or {})},
        "annotations": {AUTO_UPDATE_ANNOTATION: "true"},
    }


def cluster_role(
    name: str,
    rules: Iterable[Object] = (),
    labels: dict[str, str] | None = None,
    aggregate_from: Sequence[str] = (),
) -> Object:
    """A ClusterRole; `aggregate_from` labels make it aggregated (its rules are gathered)."""
    role: Object = {
        "apiVersion": API_VERSION,
        "kind": "ClusterRole",
        "metadata": _metadata(name, labels),
        "rules": list(rules),
    }
    if aggregate_from:
        role["aggregationRule"] = {
            "clusterRoleSelectors": [{"matchLabels": {label: "true"}} for label in aggregate_from]
        }
    return role


def subject(kind: str, name: str, namespace: str = "") -> Object:
    if kind == "ServiceAccount":
        return {"kind": kind, "name": name, "namespace": namespace}
    return {"kind": kind, "apiGroup": GROUP, "name": name}


def cluster_role_binding(name: str, subjects: Iterable[Object], role: str | None = None) -> Object:
    return {
        "apiVersion": API_VERSION,
        "kind": "ClusterRoleBinding",
        "metadata": _metadata(name),
        "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": role or name},
        "subjects": list(subjects),
    }


def users(*names: str) -> list[Object]:
    return [subject("User", n) for n in names]


def groups(*names: str) -> list[Object]:
    return [subject("Group", n) for n in names]


def service_account(namespace: str, name: str) -> Object:
    return subject("ServiceAccount", name, namespace)
