"""`ApiClient`: the asyncio HTTP client of the Kubernetes REST API that every component uses.

    async with ApiClient(load_kubeconfig()) as client:
        pod = await client.get(resources.PODS, "web-0", "default")

Every non-2xx answer is raised as the `errors.ApiError` subclass its `Status` names; transport
failures as `exceptions.ServerUnreachable` / `exceptions.RequestTimedOut`. Requests are retried
as `retries` decides, each retry logged with its attempt number.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from minik8s.api import errors
from minik8s.api.resources import PODS, ResourceType
from minik8s.client import exceptions, retries, tls
from minik8s.client.closing import AsyncClosing
from minik8s.client.kubeconfig import ClientConfig
from minik8s.client.transport import (
    AiohttpTransport,
    Request,
    Response,
    Transport,
    TransportFailure,
)
from minik8s.client.watch import WatchStream

logger = logging.getLogger(__name__)

PatchType = Literal["merge", "json", "strategic", "apply"]
PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}
JSON = "application/json"


@dataclass(frozen=True)
class ClientSettings:
    connect_timeout: float = 5.0
    """Seconds to open a TCP (and TLS) connection."""
    request_timeout: float = 30.0
    """Seconds to wait for each read or write of an ordinary (non-watch) request."""
    watch_read_slack: float = 30.0
    """Extra seconds past a watch's `timeoutSeconds` before a silent stream counts as dead."""
    max_connections: int = 16
    """Connections open at once for ordinary requests; more wait for one. Each watch or
    stream gets a connection of its own, outside this limit. A burst through a few kept-alive
    connections beats one TLS handshake per concurrent request (client-go multiplexes them
    all over one HTTP/2 connection)."""
    keepalive_expiry: float = 30.0
    """Seconds an idle connection is kept."""
    retry: retries.RetryPolicy = field(default_factory=retries.RetryPolicy)
    user_agent: str = "minik8s-client/0.1"


class ApiClient(AsyncClosing):
    """One connection pool to one apiserver. Close it (or use `async with`)."""

    def __init__(
        self,
        config: ClientConfig,
        settings: ClientSettings | None = None,
        *,
        transport: Transport | None = None,
    ) -> None:
        """`transport` replaces the real HTTP one (tests)."""
        self.config = config
        self.settings = settings or ClientSettings()
        s = self.settings
        headers = {"Accept": JSON, "User-Agent": s.user_agent, **config.auth_headers()}
        self._http: Transport = transport or AiohttpTransport(
            config.server,
            ssl_context=tls.tls_context(config),
            connect_timeout=s.connect_timeout,
            max_connections=s.max_connections,
            keepalive_expiry=s.keepalive_expiry,
        )
        self._headers = headers

    @property
    def server(self) -> str:
        return self.config.server

    async def aclose(self) -> None:
        await self._http.aclose()

    async def reload_tls(self) -> None:
        """Load the kubeconfig's client certificate files again (after a rotation) and drop
        the connections made with the old one."""
        reset = getattr(self._http, "reset", None)
        if reset is not None:
            await reset(tls.tls_context(self.config))

    # --- typed verbs ---------------------------------------------------------------------

    def _namespace(self, rt: ResourceType, namespace: str | None) -> str | None:
        if not rt.namespaced:
            return None
        return namespace or self.config.namespace

    async def get(self, rt: ResourceType, name: str, namespace: str | None = None) -> dict:
        return await self._json("GET", rt.object_path(self._namespace(rt, namespace), name))

    async def list(
        self,
        rt: ResourceType,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
        limit: int | None = None,
        continue_: str | None = None,
    ) -> dict:
        """One page of the collection (all namespaces when `namespace` is None)."""
        params = {
            "labelSelector": label_selector,
            "fieldSelector": field_selector,
            "resourceVersion": resource_version,
            "limit": limit,
            "continue": continue_,
        }
        return await self._json("GET", rt.collection_path(namespace), params=params)

    async def list_all(
        self,
        rt: ResourceType,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        page_size: int | None = None,
    ) -> dict:
        """The whole collection, following `continue` tokens; the last page's metadata."""
        items: builtins.list[dict] = []
        token: str | None = None
        while True:
            page = await self.list(
                rt, namespace, label_selector=label_selector, field_selector=field_selector,
                limit=page_size, continue_=token,
            )  # fmt: skip
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue") or None
            if not token:
                return {**page, "items": items}

    async def create(self, rt: ResourceType, obj: dict, namespace: str | None = None) -> dict:
        meta = obj.get("metadata") or {}
        ns = self._namespace(rt, namespace or meta.get("namespace"))
        body = {"apiVersion": rt.api_version, "kind": rt.kind, **obj}
        return await self._json("POST", rt.collection_path(ns), body=body)

    async def update(self, rt: ResourceType, obj: dict) -> dict:
        """PUT the whole object; its `metadata.resourceVersion`, if set, is a precondition."""
        return await self._json("PUT", self._path_of(rt, obj), body=obj)

    async def update_status(self, rt: ResourceType, obj: dict) -> dict:
        return await self._json("PUT", self._path_of(rt, obj) + "/status", body=obj)

    async def update_subresource(self, rt: ResourceType, obj: dict, subresource: str) -> dict:
        """PUT the object to `<object>/<subresource>` (e.g. a CSR's `approval`)."""
        return await self._json("PUT", self._path_of(rt, obj) + f"/{subresource}", body=obj)

    async def patch(
        self,
        rt: ResourceType,
        name: str,
        body: dict | builtins.list,
        *,
        namespace: str | None = None,
        patch_type: PatchType = "merge",
        subresource: str | None = None,
    ) -> dict:
        path = rt.object_path(self._namespace(rt, namespace), name)
        if subresource:
            path += f"/{subresource}"
        content_type = PATCH_CONTENT_TYPES[patch_type]
        return await self._json("PATCH", path, body=body, content_type=content_type)

    async def delete(
        self,
        rt: ResourceType,
        name: str,
        namespace: str | None = None,
        *,
        grace_period_seconds: int | None = None,
        propagation_policy: str | None = None,
        preconditions: dict | None = None,
    ) -> dict:
        """Delete; returns the object (if deletion is pending) or a success `Status`."""
        options = delete_options(grace_period_seconds, propagation_policy, preconditions)
        path = rt.object_path(self._namespace(rt, namespace), name)
        return await self._json("DELETE", path, body=options)

    async def delete_collection(
        self, rt: ResourceType, namespace: str | None = None, *, label_selector: str | None = None
    ) -> dict:
        path = rt.collection_path(self._namespace(rt, namespace))
        return await self._json("DELETE", path, params={"labelSelector": label_selector})

    async def bind(self, namespace: str, pod_name: str, node_name: str) -> dict:
        """Assign a pod to a node (POST `pods/<name>/binding`), as the scheduler does."""
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": pod_name, "namespace": namespace},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node_name},
        }
        path = PODS.object_path(namespace, pod_name) + "/binding"
        return await self._json("POST", path, body=binding)

    async def get_subresource(
        self,
        rt: ResourceType,
        name: str,
        subresource: str,
        namespace: str | None = None,
        *,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        """GET `<object>/<subresource>`: parsed JSON, or text (e.g. `log`)."""
        path = rt.object_path(self._namespace(rt, namespace), name) + f"/{subresource}"
        return await self.request("GET", path, params=params)

    def watch(
        self,
        rt: ResourceType,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: int | None = None,
        allow_bookmarks: bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> WatchStream:
        """The events of the collection after `resource_version`; see `WatchStream`.

        `headers` add to (or override) the client's, e.g. an `Accept` asking for Tables.
        """
        params = {
            "watch": "1",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true" if allow_bookmarks else None,
            "timeoutSeconds": timeout_seconds,
            "labelSelector": label_selector,
            "fieldSelector": field_selector,
        }
        path = rt.collection_path(namespace)
        read = None if timeout_seconds is None else timeout_seconds + self.settings.watch_read_slack

        async def open_response() -> Response:
            return await self._send(
                "GET", path, params=params, stream=True, read_timeout=read, headers=headers
            )

        return WatchStream(open_response, self.server, f"watch {path}")

    # --- generic -------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        content_type: str = JSON,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Any request: returns parsed JSON for a JSON answer, else the text.

        `headers` add to (or override) the client's, e.g. an `Accept` asking for a Table.
        """
        body = None if json is None else orjson.dumps(json)
        sent = dict(headers or {})
        if body is not None:
            sent["Content-Type"] = content_type
        response = await self._send(method, path, params=params, content=body, headers=sent or None)
        if not response.content:
            return None
        if "json" in response.headers.get("content-type", ""):
            return orjson.loads(response.content)
        return response.text

    async def stream(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None
    ) -> Response:
        """Send a request whose body is read as it arrives (e.g. `log?follow=true`), without a
        read timeout: iterate `response.chunks()`, then `aclose()` it. Errors raise as for
        `request`."""
        return await self._send(method, path, params=params, stream=True, read_timeout=None)

    async def _json(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        content_type: str = JSON,
    ) -> dict:
        result = await self.request(
            method, path, json=body, params=params, content_type=content_type
        )
        if not isinstance(result, dict):
            raise errors.InternalError(
                f"{method} {path}: expected a JSON object, got {result!r:.80}"
            )
        return result

    def _path_of(self, rt: ResourceType, obj: dict) -> str:
        meta = obj.get("metadata") or {}
        name = meta.get("name")
        if not name:
            raise errors.BadRequest(f"{rt.kind} has no metadata.name", kind=rt.kind)
        return rt.object_path(self._namespace(rt, meta.get("namespace")), name)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        read_timeout: float | Literal["default"] | None = "default",
    ) -> Response:
        """Send with retries; return a 2xx response, else raise the mapped error."""
        policy = self.settings.retry
        request = Request(
            method,
            path,
            params={k: str(v) for k, v in (params or {}).items() if v is not None},
            headers={**self._headers, **(headers or {})},
            body=content,
            read_timeout=self.settings.request_timeout
            if read_timeout == "default"
            else read_timeout,
        )
        what = f"{method} {path}"
        for attempt in range(1, policy.max_attempts + 1):
            try:
                response = await self._http.send(request, stream=stream)
            except TransportFailure as e:
                error = exceptions.from_transport_error(e, self.server, what)
                retryable = not isinstance(error, exceptions.TLSFailure) and (
                    retries.may_retry_transport_error(method, e.sent)
                )
                if attempt < policy.max_attempts and retryable:
                    delay = retries.retry_delay(policy, attempt, None)
                    logger.warning(
                        "%s: %s; retrying in %.2fs (attempt %d/%d)",
                        what, error, delay, attempt + 1, policy.max_attempts,
                    )  # fmt: skip
                    await asyncio.sleep(delay)
                    continue
                raise error from e
            if response.is_success:
                return response
            retry_after = retries.parse_retry_after(response.headers.get("retry-after"))
            error = await self._error_from(response, what, retry_after)
            code = response.status
            if attempt < policy.max_attempts and retries.may_retry_response(
                method, code, retry_after
            ):
                delay = retries.retry_delay(policy, attempt, retry_after)
                logger.warning(
                    "%s: HTTP %d %s; retrying in %.2fs (attempt %d/%d)",
                    what, code, error.message, delay, attempt + 1, policy.max_attempts,
                )  # fmt: skip
                await asyncio.sleep(delay)
                continue
            raise error
        raise AssertionError("unreachable: the last attempt returns or raises")

    @staticmethod
    async def _error_from(
        response: Response, what: str, retry_after: float | None
    ) -> errors.ApiError:
        try:
            await response.read()
        except TransportFailure:
            pass
        finally:
            await response.aclose()
        status: dict[str, Any] = {}
        with contextlib.suppress(orjson.JSONDecodeError, UnicodeDecodeError):
            parsed = orjson.loads(response.content)
            if isinstance(parsed, dict) and ("reason" in parsed or parsed.get("kind") == "Status"):
                status = parsed
        if not status.get("message"):
            text = response.content.decode(errors="replace").strip()[:200]
            status = {**status, "message": f"{what}: HTTP {response.status} {text}".strip()}
        error = errors.from_status(status, response.status)
        if error.retry_after_seconds is None and retry_after is not None:
            error.retry_after_seconds = int(retry_after)
        return error


def delete_options(
    grace_period_seconds: int | None, propagation_policy: str | None, preconditions: dict | None
) -> dict[str, Any] | None:
    """The `DeleteOptions` body of a DELETE, or None when every option is left to the server."""
    options: dict[str, Any] = {}
    if grace_period_seconds is not None:
        options["gracePeriodSeconds"] = grace_period_seconds
    if propagation_policy is not None:
        options["propagationPolicy"] = propagation_policy
    if preconditions:
        options["preconditions"] = preconditions
    if not options:
        return None
    return {"kind": "DeleteOptions", "apiVersion": "v1", **options}
