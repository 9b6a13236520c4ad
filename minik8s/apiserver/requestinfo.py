"""What a request asks for, as authorization sees it: Kubernetes' RequestInfoFactory (pure).

Parsed from the path, method and query alone, before the resource is known to exist (a user
without rights gets 403 even for a resource that does not exist, as in Kubernetes):

    /api/v1/namespaces/ns/pods/p/log          get pods/log "p" in ns
    /apis/apps/v1/deployments?watch=1         watch deployments.apps (all namespaces)
    /api/v1/namespaces/ns                     get namespaces "ns" (namespace ns)
    /api/v1/pods?fieldSelector=metadata.name=p  list pods, name "p"
    /version, /healthz, /api, /apis/apps      non-resource: get path "/version"

A WebSocket upgrade to `pods/exec|attach|portforward` is a `create`, as Kubernetes 1.30+
authorizes it (a `get` on the subresource is not enough to run a command).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

from minik8s.apiserver.authn.user import UserInfo

API_PREFIXES = ("api", "apis")
SPECIAL_VERBS = ("proxy", "watch")
NAMESPACE_SUBRESOURCES = ("status", "finalize")
CONNECT_SUBRESOURCES = ("exec", "attach", "portforward")
_METHOD_VERBS = {
    "POST": "create",
    "GET": "get",
    "HEAD": "get",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}


@dataclass(frozen=True, slots=True)
class Attributes:
    """Kubernetes' authorizer.Attributes: who asks to do what to which object or path."""

    user: UserInfo
    verb: str
    resource_request: bool = True
    namespace: str = ""
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    path: str = ""
    field_selector: str = ""
    """The raw `fieldSelector` of a list or watch (the Node authorizer reads spec.nodeName)."""

    @property
    def qualified_resource(self) -> str:
        """`pods`, `deployments.apps` (the resource of a 403's `… is forbidden`)."""
        return f"{self.resource}.{self.api_group}" if self.api_group else self.resource


def parse(
    user: UserInfo, method: str, path: str, query: bytes = b"", websocket: bool = False
) -> Attributes:
    parts = [p for p in path.split("/") if p]
    if len(parts) < 3 or parts[0] not in API_PREFIXES:
        return _non_resource(user, method, path)
    prefix, rest = parts[0], parts[1:]
    group = ""
    if prefix == "apis":
        if len(rest) < 3:
            return _non_resource(user, method, path)
        group, rest = rest[0], rest[1:]
    version, rest = rest[0], rest[1:]
    if not rest:
        return _non_resource(user, method, path)
    by_method = False
    if rest[0] in SPECIAL_VERBS:
        if len(rest) < 2:
            return _non_resource(user, method, path)
        verb, rest = rest[0], rest[1:]
    else:
        by_method = True
        verb = _METHOD_VERBS.get(method, "")
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) >= 2 else ""
    subresource = rest[2] if len(rest) >= 3 and verb != "proxy" else ""
    field_selector = ""
    if by_method and not name and verb == "get":
        verb, field_selector, name = _list_or_watch(query)
    elif by_method and not name and verb == "delete":
        verb = "deletecollection"
    if websocket and subresource in CONNECT_SUBRESOURCES and resource == "pods":
        verb = "create"
    return Attributes(
        user,
        verb,
        True,
        namespace,
        group,
        version,
        resource,
        subresource,
        name,
        path,
        field_selector,
    )


def _non_resource(user: UserInfo, method: str, path: str) -> Attributes:
    return Attributes(user, method.lower(), resource_request=False, path=path)


def _list_or_watch(query: bytes) -> tuple[str, str, str]:
    """(verb, field selector, name from `metadata.name=`) of a GET without a name."""
    if not query:
        return "list", "", ""
    verb, field_selector, name = "list", "", ""
    for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if key == "watch" and value.lower() not in ("false", "0"):
            verb = "watch"
        elif key == "fieldSelector":
            field_selector = value
    if field_selector:
        name = exact_field(field_selector, "metadata.name") or ""
        if name in (".", "..") or "/" in name or "%" in name:
            name = ""
    return verb, field_selector, name


def exact_field(selector: str, field: str) -> str | None:
    """The value `selector` requires `field` to equal (`f=v` or `f==v`), if it does."""
    for term in selector.split(","):
        key, op, value = term.partition("==") if "==" in term else term.partition("=")
        if op and not key.endswith("!") and key.strip() == field:
            return value.strip()
    return None
