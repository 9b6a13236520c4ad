"""One audited request: what it has logged so far, and the events of its stages.

The front (`asgi.py`) creates an `AuditContext` once the policy says the request is audited
and emits `RequestReceived` at once — before impersonation and authorization, so that event
carries neither, as in Kubernetes. Later steps add to it: the impersonated user, the
authorization decision, the request object (`wire.decode_object` calls `log_request_object`
through `CURRENT`), the response code and Status, the response object. `ResponseStarted` is
emitted when the headers of a long-running response (watch, logs, exec, proxy) go out,
`ResponseComplete` when the response has ended, `Panic` instead when serving raised.

Each event is a new dict built from the context's fields; a field changed after an event
was emitted is replaced, never mutated, since the backends read emitted events from another
thread or later on the loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import orjson

from minik8s.api import times
from minik8s.api.encoding import right_sized
from minik8s.api.meta import Object
from minik8s.apiserver.audit import event as events
from minik8s.apiserver.audit import metrics
from minik8s.apiserver.audit.policy import (
    PANIC,
    RANK,
    REQUEST,
    REQUEST_RECEIVED,
    REQUEST_RESPONSE,
    RESPONSE_COMPLETE,
    RESPONSE_STARTED,
    RequestAuditConfig,
)
from minik8s.apiserver.authn.user import UserInfo

Sink = Callable[[Object], None]

CURRENT: ContextVar[AuditContext | None] = ContextVar("minik8s_audit", default=None)
"""The audit context of the request this task serves (None: not audited)."""

CONNECTION_CLOSED_EARLY = {
    "metadata": {},
    "status": "Success",
    "message": "Connection closed early",
    "code": 200,
}
JSON_TYPE = b"application/json"
ALLOWED = {events.DECISION: events.ALLOW, events.REASON: ""}


class AuditContext:
    __slots__ = (
        "_body",
        "_sink",
        "annotations",
        "audit_id",
        "code",
        "config",
        "failed_authentication",
        "impersonated_user",
        "long_running",
        "object_ref",
        "panic",
        "received",
        "request_object",
        "request_uri",
        "response_object",
        "response_status",
        "source_ips",
        "user",
        "user_agent",
        "verb",
    )

    def __init__(
        self,
        sink: Sink,
        config: RequestAuditConfig,
        audit_id: str,
        scope: Any,
        user: UserInfo | None,
        verb: str,
        object_ref: Object | None,
        long_running: bool,
        received: float,
    ) -> None:
        self._sink = sink
        self.config = config
        self.audit_id = audit_id
        raw_path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string") or b""
        self.request_uri = (raw_path + b"?" + query if query else raw_path).decode("latin-1")
        self.verb = verb
        self.user: Object = events.user_info(user) if user is not None else {}
        self.failed_authentication = user is None
        self.impersonated_user: Object | None = None
        self.source_ips, self.user_agent = events.client_details(
            scope["headers"], scope.get("client")
        )
        self.object_ref = object_ref
        self.long_running = long_running
        self.received = times.format_micro_timestamp(received)
        self.response_status: Object | None = None
        self.request_object: Any = None
        self.response_object: Any = None
        self.annotations: dict[str, str] | None = None
        self.code: int | None = None
        self.panic: str | None = None
        self._body: list[bytes] | None = None

    @property
    def level(self) -> str:
        return self.config.level

    # --- what later steps add --------------------------------------------------------------

    def annotate(self, key: str, value: str) -> None:
        """Add an annotation (the first value of a key stays, as Kubernetes keeps it)."""
        if self.annotations is None or key not in self.annotations:
            self.annotations = {**(self.annotations or {}), key: value}

    def log_impersonated_user(self, user: UserInfo) -> None:
        self.impersonated_user = events.user_info(user)

    def log_decision(self, allowed: bool, reason: str) -> None:
        if self.annotations is None and allowed and not reason:
            self.annotations = ALLOWED  # the common case: shared, never changed
            return
        self.annotate(events.DECISION, events.ALLOW if allowed else events.FORBID)
        self.annotate(events.REASON, reason)

    def log_request_object(self, obj: Any) -> None:
        """The decoded request body: it completes objectRef, and is kept from level Request on
        (encoded now: the registry goes on to default the same dict in place)."""
        if self.object_ref is not None:
            self.object_ref = events.completed_ref(self.object_ref, obj)
        if RANK[self.config.level] < RANK[REQUEST]:
            return
        if self.config.omit_managed_fields:
            obj = events.without_managed_fields(obj)
        try:
            # queued until written: kept at its own size, not orjson's buffer's
            self.request_object = orjson.Fragment(right_sized(orjson.dumps(obj)))
        except TypeError:  # a YAML body with values JSON cannot hold
            self.request_object = None

    def log_request_patch(self, patch: bytes) -> None:
        """A PATCH body, as sent (Kubernetes logs patches raw)."""
        if RANK[self.config.level] < RANK[REQUEST]:
            return
        try:
            self.request_object = orjson.loads(patch)
        except orjson.JSONDecodeError:
            self.request_object = patch.decode("utf-8", "replace")  # an apply patch in YAML

    def log_panic(self, error: BaseException) -> None:
        self.panic = f"APIServer panic'd: {error}"

    # --- the response, as it is sent ----------------------------------------------------------

    def on_send(self, message: Any) -> None:
        kind = message["type"]
        if kind == "http.response.start" or kind == "websocket.http.response.start":
            self.code = message["status"]
            if self._wants_body(message):
                self._body = []
            if self.long_running and not self.failed_authentication:
                self.response_status = {"metadata": {}, "code": self.code}
                self.emit(RESPONSE_STARTED)
        elif kind == "http.response.body" or kind == "websocket.http.response.body":
            body = message.get("body", b"")
            if self._body is not None:
                self._body.append(body)
            elif self.response_status is None or self.long_running:
                self._first_chunk(body)
        elif kind == "websocket.accept":
            self.code = 101
            self.response_status = {"metadata": {}, "code": 101}
            self.emit(RESPONSE_STARTED)

    def _wants_body(self, message: Any) -> bool:
        """Keep the whole body for RequestResponse (JSON responses to resource requests that
        are not streams); otherwise only its first chunk is looked at, for a Status."""
        if RANK[self.config.level] < RANK[REQUEST_RESPONSE] or self.object_ref is None:
            return False
        if self.long_running:
            return False
        for key, value in message.get("headers") or ():
            if key.lower() == b"content-type":
                return value.startswith(JSON_TYPE)
        return False

    def _first_chunk(self, body: bytes) -> None:
        if self.response_status is None or (self.long_running and self.code and self.code >= 300):
            self.response_status = events.response_status(self.code or 200, body)

    def finish(self) -> None:
        """The response has ended: emit ResponseComplete (or Panic, or, for a request whose
        authentication failed, the one ResponseStarted event Kubernetes writes for it)."""
        if self._body is not None:
            body = b"".join(self._body)
            self._body = None
            self.response_status = events.response_status(self.code or 200, body)
            if body:
                self.response_object = self._response_object(body)
        if self.panic is not None:
            self.response_status = {
                "metadata": {},
                "status": "Failure",
                "message": self.panic,
                "reason": "InternalError",
                "code": 500,
            }
            self.emit(PANIC)
            return
        if self.response_status is None:
            self.response_status = (
                {"metadata": {}, "code": self.code} if self.code else CONNECTION_CLOSED_EARLY
            )
        if self.failed_authentication:
            self.emit(RESPONSE_STARTED)
            return
        if self.long_running and self.code is None:
            self.emit(RESPONSE_STARTED)
        self.emit(RESPONSE_COMPLETE)

    def _response_object(self, body: bytes) -> Any:
        if not self.config.omit_managed_fields:
            return orjson.Fragment(body.rstrip(b"\n"))  # one line: not the body's final newline
        try:
            return events.without_managed_fields(orjson.loads(body))
        except orjson.JSONDecodeError:
            return None

    # --- events ---------------------------------------------------------------------------------

    def emit(self, stage: str) -> None:
        if stage in self.config.omit_stages:
            return
        metrics.COUNTS.events += 1
        self._sink(self.event(stage))

    def event(self, stage: str) -> Object:
        """This request's event at `stage`, in Go's field order, empty fields left out."""
        event: Object = {
            "kind": events.KIND,
            "apiVersion": events.API_VERSION,
            "level": self.config.level,
            "auditID": self.audit_id,
            "stage": stage,
            "requestURI": self.request_uri,
            "verb": self.verb,
            "user": self.user,
        }
        if self.impersonated_user is not None:
            event["impersonatedUser"] = self.impersonated_user
        if self.source_ips:
            event["sourceIPs"] = self.source_ips
        if self.user_agent:
            event["userAgent"] = self.user_agent
        if self.object_ref is not None:
            event["objectRef"] = self.object_ref
        if self.response_status is not None:
            event["responseStatus"] = self.response_status
        if self.request_object is not None:
            event["requestObject"] = self.request_object
        if self.response_object is not None:
            event["responseObject"] = self.response_object
        event["requestReceivedTimestamp"] = self.received
        event["stageTimestamp"] = (
            self.received
            if stage == REQUEST_RECEIVED
            else times.format_micro_timestamp(time.time())
        )
        if self.annotations:
            event["annotations"] = self.annotations
        return event


# --- hooks for the code that serves the request (no-ops when it is not audited) -------------


def log_request_object(obj: Any) -> None:
    context = CURRENT.get()
    if context is not None:
        context.log_request_object(obj)


def log_request_patch(patch: bytes) -> None:
    context = CURRENT.get()
    if context is not None:
        context.log_request_patch(patch)


def log_panic(error: BaseException) -> None:
    """Serving the request raised where nothing expected it (Kubernetes' panic)."""
    context = CURRENT.get()
    if context is not None:
        context.log_panic(error)
