"""Audit events (`audit.k8s.io/v1`, as the apiserver's webhook backend POSTs them) as the
architecture view's steps: who asked the apiserver for what, with what answer, and the etcd
write and watch deliveries that follow from it.

Pure: plain dicts in, plain dicts out. Components are named from the requesting user, with
the identities of the bootstrap policy (`system:kube-scheduler`, `system:node:<node>`, …);
anybody else is a client ("kubectl", whatever the tool).
"""

from __future__ import annotations

from typing import Any

from minik8s.api import times, users

WRITES = frozenset({"create", "update", "patch", "delete", "deletecollection"})
CLIENT = "kubectl"


def component_of(username: str) -> str:
    """The box of the architecture diagram a user's requests come from."""
    if username.startswith(users.NODE_USER_PREFIX):
        return "kubelet:" + username.removeprefix(users.NODE_USER_PREFIX)
    named = {
        users.KUBE_SCHEDULER: "scheduler",
        users.KUBE_CONTROLLER_MANAGER: "controller-manager",
        users.KUBE_PROXY: "proxy",
        users.KUBE_DNS: "dns",
        users.CLOUD_CONTROLLER_MANAGER: "cloud-controller-manager",
        users.KUBE_DASHBOARD: "dashboard",
    }
    if username in named:
        return named[username]
    if username.startswith("system:serviceaccount:kube-system:"):
        return "controller-manager"
    return CLIENT


def _millis(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        moment = times.parse_time(value)
    except ValueError:
        return None
    return moment.timestamp() * 1000.0 if moment is not None else None


def steps(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The steps one audit event shows (none for a stage other than ResponseComplete)."""
    if event.get("stage") != "ResponseComplete":
        return []
    user = (event.get("user") or {}).get("username") or "?"
    ref = event.get("objectRef") or {}
    verb = str(event.get("verb") or "")
    resource = str(ref.get("resource") or "")
    if ref.get("subresource"):
        resource += "/" + str(ref["subresource"])
    code = int((event.get("responseStatus") or {}).get("code") or 0)
    base = {
        "t": _millis(event.get("stageTimestamp")),
        "verb": verb,
        "resource": resource,
        "namespace": ref.get("namespace") or "",
        "name": ref.get("name") or "",
        "code": code,
        "user": user,
        "auditID": event.get("auditID"),
    }
    src = component_of(user)
    out = [{**base, "kind": "request", "src": src, "dst": "apiserver"}]
    if verb in WRITES and 200 <= code < 300 and resource:
        out.append({**base, "kind": "write", "src": "apiserver", "dst": "etcd"})
        out.extend(_deliveries(base, resource, verb))
    return out


def _deliveries(base: dict[str, Any], resource: str, verb: str) -> list[dict[str, Any]]:
    """The watch deliveries a write sets off (who watches what, by Kubernetes' design)."""
    watchers: list[str] = []
    if resource == "pods" and verb == "create":
        watchers = ["scheduler", "controller-manager"]
    elif resource == "pods/binding":
        watchers = ["kubelet"]
    elif resource in ("services", "endpoints", "endpointslices"):
        watchers = ["proxy"]
    elif resource in ("deployments", "replicasets", "statefulsets", "daemonsets", "jobs"):
        watchers = ["controller-manager"]
    return [{**base, "kind": "watch", "src": "apiserver", "dst": w} for w in watchers]
