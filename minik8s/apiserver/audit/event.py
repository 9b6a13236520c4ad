"""The pieces of an `audit.k8s.io/v1` Event, as Kubernetes fills them (pure).

An event is a plain dict whose keys follow Go's field order, so a line of our log reads like
a line of kube-apiserver's:

    {"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"…",
     "stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods","verb":"create",
     "user":{"username":"jane","groups":["devs","system:authenticated"]},
     "sourceIPs":["127.0.0.1"],"userAgent":"kubectl/v1.32.0 …",
     "objectRef":{"resource":"pods","namespace":"default","name":"web","apiVersion":"v1"},
     "responseStatus":{"metadata":{},"code":201},
     "requestReceivedTimestamp":"…","stageTimestamp":"…",
     "annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""}}
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Any

import orjson

from minik8s.api.meta import Object
from minik8s.apiserver.authn.user import UserInfo
from minik8s.apiserver.requestinfo import Attributes

KIND, API_VERSION = "Event", "audit.k8s.io/v1"
HEADER_AUDIT_ID = "Audit-Id"
"""The request and response header (`Audit-ID`, as Go's net/http canonicalises it)."""
DECISION = "authorization.k8s.io/decision"
REASON = "authorization.k8s.io/reason"
ALLOW, FORBID = "allow", "forbid"
MAX_USER_AGENT = 1024
TRUNCATED = "...TRUNCATED"
STATUS_PREFIX = b'{"kind":"Status"'
"""How every Status body the apiserver writes begins (`errors.to_status`, `success_status`)."""
STATUS_FIELDS = ("status", "message", "reason", "details", "code")
"""The bounded fields of a Status response that the event keeps (Kubernetes 1.29+)."""
LONG_RUNNING_VERBS = frozenset({"watch", "proxy"})
LONG_RUNNING_SUBRESOURCES = frozenset({"attach", "exec", "proxy", "log", "portforward"})


@functools.lru_cache(maxsize=1024)
def user_info(user: UserInfo) -> Object:
    """`authentication.k8s.io/v1` UserInfo, empty fields left out (one dict per user, shared
    by its events: never change it)."""
    return user.to_dict()


def object_ref(attrs: Attributes) -> Object | None:
    """The request's target as RequestInfo names it; None for non-resource requests."""
    if not attrs.resource_request:
        return None
    ref: Object = {}
    if attrs.resource:
        ref["resource"] = attrs.resource
    if attrs.namespace:
        ref["namespace"] = attrs.namespace
    if attrs.name:
        ref["name"] = attrs.name
    if attrs.api_group:
        ref["apiGroup"] = attrs.api_group
    if attrs.api_version:
        ref["apiVersion"] = attrs.api_version
    if attrs.subresource:
        ref["subresource"] = attrs.subresource
    return ref


REF_ORDER = ("resource", "namespace", "name", "uid", "apiGroup", "apiVersion",
             "resourceVersion", "subresource")  # fmt: skip


def completed_ref(ref: Object, obj: Any) -> Object:
    """`ref` with the request object's namespace, name, uid and resourceVersion where the path
    named none (a create names its object only in the body). A new dict: events already handed
    to a backend share the old one."""
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    if not isinstance(meta, dict):
        return ref
    merged = dict(ref)
    for key in ("namespace", "name", "uid", "resourceVersion"):
        value = meta.get(key)
        if value and not merged.get(key) and isinstance(value, str):
            merged[key] = value
    return {key: merged[key] for key in REF_ORDER if key in merged}


def is_long_running(attrs: Attributes) -> bool:
    """Kubernetes' BasicLongRunningRequestCheck: watches, proxies, logs, exec, attach."""
    return attrs.verb in LONG_RUNNING_VERBS or attrs.subresource in LONG_RUNNING_SUBRESOURCES


def client_details(headers: list[tuple[bytes, bytes]], client: Any) -> tuple[list[str], str]:
    """(source IPs, user agent) of a request, from one pass over its headers."""
    forwarded = real = agent = b""
    for key, value in headers:
        if key == b"user-agent":
            agent = value
        elif key == b"x-forwarded-for":
            forwarded = value
        elif key == b"x-real-ip":
            real = value
    ips = source_ips(forwarded.decode("latin-1"), real.decode("latin-1"), client)
    return ips, user_agent(agent.decode("latin-1"))


def user_agent(agent: str) -> str:
    return agent[:MAX_USER_AGENT] + TRUNCATED if len(agent) > MAX_USER_AGENT else agent


def source_ips(forwarded: str, real_ip: str, client: Any) -> list[str]:
    """`utilnet.SourceIPs`: X-Forwarded-For, then X-Real-Ip if not in it, then the peer's
    address unless it repeats the last one. Only the last one cannot be forged."""
    found: list[str] = []
    if forwarded:
        found += [ip for ip in (_ip(part.strip()) for part in forwarded.split(",")) if ip]
    real = _ip(real_ip.strip())
    if real and real not in found:
        found.append(real)
    remote = _ip(client[0]) if client else None
    if remote and (not found or found[-1] != remote):
        found.append(remote)
    return found


@functools.lru_cache(maxsize=1024)
def _ip(text: str) -> str | None:
    if not text:
        return None
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def response_status(code: int, body: bytes | None) -> Object:
    """`responseStatus`: the bounded fields of a Status body, else only the code."""
    status: Object = {"metadata": {}}
    if body and body.startswith(STATUS_PREFIX):
        try:
            decoded = orjson.loads(body)
        except orjson.JSONDecodeError:
            decoded = None
        if isinstance(decoded, dict):
            for key in STATUS_FIELDS:
                if decoded.get(key):
                    status[key] = decoded[key]
    status["code"] = code
    return status


def without_managed_fields(obj: Any) -> Any:
    """A copy of an object, a list or a Table without `metadata.managedFields` (the original,
    when it has none)."""
    if not isinstance(obj, dict):
        return obj
    copy = obj
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        copy = {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
    items = obj.get("items")
    if isinstance(items, list):
        copy = {**copy, "items": [without_managed_fields(item) for item in items]}
    rows = obj.get("rows")
    if obj.get("kind") == "Table" and isinstance(rows, list):
        copy = {
            **copy,
            "rows": [
                {**row, "object": without_managed_fields(row["object"])}
                if isinstance(row, dict) and "object" in row
                else row
                for row in rows
            ],
        }
    return copy
