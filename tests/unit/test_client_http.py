"""ApiClient against an in-memory transport (no sockets): requests built, errors mapped,
retries, and the watch stream parser; and how aiohttp's failures are classified."""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import aiohttp
import httpx
import orjson
import pytest

from minik8s.api import errors
from minik8s.api.resources import DEPLOYMENTS, NODES, PODS
from minik8s.client import exceptions, retries
from minik8s.client.api import ApiClient, ClientSettings
from minik8s.client.kubeconfig import ClientConfig
from minik8s.client.transport import TransportFailure, failure_from
from minik8s.client.watch import LineBuffer, WatchEvent, parse_event
from tests.support.mock_transport import MockTransport

Handler = Callable[[httpx.Request], httpx.Response]
FAST = retries.RetryPolicy(max_attempts=3, backoff_base=0.001, backoff_cap=0.002)


def make_client(handler: Handler, policy: retries.RetryPolicy = FAST) -> ApiClient:
    config = ClientConfig(server="http://apiserver.test", token="tok", namespace="team")
    settings = ClientSettings(retry=policy)
    return ApiClient(config, settings, transport=MockTransport(handler))


def status(code: int, reason: str, message: str, **details: object) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code,
            "reason": reason, "message": message, "details": details}  # fmt: skip


class Recorder:
    """Answers with a fixed sequence of responses and records the requests."""

    def __init__(self, *responses: httpx.Response | Exception) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def body(self, i: int = -1) -> object:
        return orjson.loads(self.requests[i].content) if self.requests[i].content else None


async def test_requests_carry_token_paths_and_default_namespace() -> None:
    rec = Recorder(httpx.Response(200, json={"kind": "Pod"}))
    async with make_client(rec) as client:
        await client.get(PODS, "web")
        await client.get(PODS, "web", "other")
        await client.get(NODES, "node-1", "ignored")
        await client.list(PODS)
        await client.list(DEPLOYMENTS, "ns", label_selector="app=web", limit=5)
    paths = [r.url.path for r in rec.requests]
    assert paths == [
        "/api/v1/namespaces/team/pods/web",
        "/api/v1/namespaces/other/pods/web",
        "/api/v1/nodes/node-1",
        "/api/v1/pods",
        "/apis/apps/v1/namespaces/ns/deployments",
    ]
    assert rec.requests[0].headers["authorization"] == "Bearer tok"
    assert dict(rec.requests[-1].url.params) == {"labelSelector": "app=web", "limit": "5"}


async def test_create_fills_type_and_namespace_without_touching_the_input() -> None:
    rec = Recorder(httpx.Response(201, json={"kind": "Pod"}))
    obj = {"metadata": {"name": "web", "namespace": "ns1"}, "spec": {}}
    async with make_client(rec) as client:
        await client.create(PODS, obj)
    assert rec.requests[0].method == "POST"
    assert rec.requests[0].url.path == "/api/v1/namespaces/ns1/pods"
    assert rec.body() == {"apiVersion": "v1", "kind": "Pod", **obj}
    assert "kind" not in obj


async def test_update_status_patch_delete_and_bind_requests() -> None:
    rec = Recorder(httpx.Response(200, json={"kind": "X"}))
    pod = {"metadata": {"name": "web", "namespace": "ns", "resourceVersion": "7"}}
    async with make_client(rec) as client:
        await client.update(PODS, pod)
        await client.update_status(PODS, pod)
        await client.patch(DEPLOYMENTS, "d", {"spec": {"replicas": 3}}, namespace="ns",
                           subresource="scale")  # fmt: skip
        await client.patch(PODS, "web", [{"op": "remove", "path": "/x"}], patch_type="json")
        await client.patch(PODS, "web", {"a": 1}, patch_type="strategic")
        await client.delete(PODS, "web", "ns", grace_period_seconds=0,
                            preconditions={"uid": "u1"})  # fmt: skip
        await client.delete(PODS, "web", "ns")
        await client.bind("ns", "web", "node-1")
    methods = [(r.method, r.url.path) for r in rec.requests]
    assert methods == [
        ("PUT", "/api/v1/namespaces/ns/pods/web"),
        ("PUT", "/api/v1/namespaces/ns/pods/web/status"),
        ("PATCH", "/apis/apps/v1/namespaces/ns/deployments/d/scale"),
        ("PATCH", "/api/v1/namespaces/team/pods/web"),
        ("PATCH", "/api/v1/namespaces/team/pods/web"),
        ("DELETE", "/api/v1/namespaces/ns/pods/web"),
        ("DELETE", "/api/v1/namespaces/ns/pods/web"),
        ("POST", "/api/v1/namespaces/ns/pods/web/binding"),
    ]
    types = [r.headers.get("content-type") for r in rec.requests[2:5]]
    assert types == [
        "application/merge-patch+json",
        "application/json-patch+json",
        "application/strategic-merge-patch+json",
    ]
    assert rec.body(5) == {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
                           "preconditions": {"uid": "u1"}}  # fmt: skip
    assert rec.body(6) is None
    assert rec.body(7) == {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": "web", "namespace": "ns"},
        "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"},
    }


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (httpx.Response(404, json=status(404, "NotFound", 'pods "x" not found')), errors.NotFound),
        (httpx.Response(409, json=status(409, "AlreadyExists", "exists")), errors.AlreadyExists),
        (httpx.Response(409, json=status(409, "Conflict", "modified")), errors.Conflict),
        (httpx.Response(410, json=status(410, "Expired", "too old")), errors.Expired),
        (httpx.Response(401, text="Unauthorized"), errors.Unauthorized),
        (httpx.Response(500, text="boom"), errors.InternalError),
    ],
)
async def test_error_responses_raise_the_class_their_status_names(
    response: httpx.Response, expected: type[errors.ApiError]
) -> None:
    async with make_client(Recorder(response)) as client:
        with pytest.raises(expected) as e:
            await client.create(PODS, {"metadata": {"name": "x"}})
    assert type(e.value) is expected


async def test_invalid_keeps_its_field_causes() -> None:
    body = status(422, "Invalid", 'Pod "x" is invalid', name="x", kind="Pod",
                  causes=[{"field": "spec.containers", "message": "Required value",
                           "reason": "FieldValueRequired"}])  # fmt: skip
    async with make_client(Recorder(httpx.Response(422, json=body))) as client:
        with pytest.raises(errors.Invalid) as e:
            await client.create(PODS, {"metadata": {"name": "x"}})
    assert e.value.causes[0].field == "spec.containers"
    assert e.value.name == "x"


async def test_get_is_retried_on_503_and_logs_attempts(caplog: pytest.LogCaptureFixture) -> None:
    rec = Recorder(httpx.Response(503, text="busy"), httpx.Response(200, json={"kind": "Pod"}))
    with caplog.at_level(logging.WARNING, logger="minik8s.client.api"):
        async with make_client(rec) as client:
            assert await client.get(PODS, "x") == {"kind": "Pod"}
    assert len(rec.requests) == 2
    assert "(attempt 2/3)" in caplog.text


async def test_post_is_not_retried_on_a_bare_5xx() -> None:
    rec = Recorder(httpx.Response(503, text="busy"), httpx.Response(201, json={}))
    async with make_client(rec) as client:
        with pytest.raises(errors.ServiceUnavailable):
            await client.create(PODS, {"metadata": {"name": "x"}})
    assert len(rec.requests) == 1


async def test_any_request_is_retried_when_the_server_says_retry_after() -> None:
    rec = Recorder(
        httpx.Response(429, headers={"Retry-After": "0"}, json=status(429, "TooManyRequests", "")),
        httpx.Response(503, headers={"Retry-After": "0"}, text="starting"),
        httpx.Response(201, json={"kind": "Pod"}),
    )
    async with make_client(rec) as client:
        assert await client.create(PODS, {"metadata": {"name": "x"}}) == {"kind": "Pod"}
    assert len(rec.requests) == 3


async def test_retries_are_finite() -> None:
    rec = Recorder(httpx.Response(503, headers={"Retry-After": "0"}, text="down"))
    async with make_client(rec) as client:
        with pytest.raises(errors.ServiceUnavailable) as e:
            await client.get(PODS, "x")
    assert len(rec.requests) == FAST.max_attempts
    assert e.value.retry_after_seconds == 0


async def test_connect_errors_are_retried_for_any_method() -> None:
    request_ok = httpx.Response(201, json={"kind": "Pod"})
    rec = Recorder(TransportFailure("refused", sent=False), request_ok)
    async with make_client(rec) as client:
        assert await client.create(PODS, {"metadata": {"name": "x"}}) == {"kind": "Pod"}
    assert len(rec.requests) == 2


async def test_a_post_whose_connection_broke_after_sending_is_not_retried() -> None:
    rec = Recorder(TransportFailure("reset", sent=True), httpx.Response(201, json={}))
    async with make_client(rec) as client:
        with pytest.raises(exceptions.ServerUnreachable):
            await client.create(PODS, {"metadata": {"name": "x"}})
    assert len(rec.requests) == 1


async def test_an_unreachable_server_is_one_line_naming_it() -> None:
    rec = Recorder(TransportFailure("[Errno 111] Connection refused", sent=False))
    async with make_client(rec) as client:
        with pytest.raises(exceptions.ServerUnreachable) as e:
            await client.list(PODS)
    assert isinstance(e.value, errors.ServiceUnavailable)
    assert str(e.value) == (
        "cannot reach the apiserver at http://apiserver.test: [Errno 111] Connection refused"
    )
    assert isinstance(e.value.__cause__, TransportFailure)
    assert len(rec.requests) == FAST.max_attempts


async def test_request_returns_text_for_non_json() -> None:
    rec = Recorder(httpx.Response(200, text="log line\n", headers={"content-type": "text/plain"}))
    async with make_client(rec) as client:
        assert await client.get_subresource(PODS, "web", "log", params={"tailLines": 1}) == (
            "log line\n"
        )
    assert rec.requests[0].url.path == "/api/v1/namespaces/team/pods/web/log"


# --- retry arithmetic -----------------------------------------------------------------------


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = retries.RetryPolicy(backoff_base=0.1, backoff_cap=1.0, jitter=0.0)
    delays = [retries.backoff_delay(policy, n) for n in range(1, 7)]
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    assert retries.backoff_delay(policy, 10_000) == 1.0


def test_retry_after_wins_over_backoff_and_is_capped() -> None:
    policy = retries.RetryPolicy(max_retry_after=30)
    assert retries.retry_delay(policy, 1, 3.0, rand=0.0) == 3.0
    assert retries.retry_delay(policy, 1, 500.0, rand=0.0) == 30.0


def test_retry_after_is_honoured_at_least_and_spread_by_jitter() -> None:
    policy = retries.RetryPolicy(retry_after_jitter=0.5)
    assert retries.retry_delay(policy, 1, 1.0, rand=0.0) == 1.0
    assert retries.retry_delay(policy, 1, 1.0, rand=0.999) == pytest.approx(1.4995)
    waits = {retries.retry_delay(policy, 1, 1.0) for _ in range(50)}
    assert all(1.0 <= w < 1.5 for w in waits) and len(waits) > 1  # not in lock step


def test_parse_retry_after() -> None:
    now = datetime(2024, 1, 1, 0, 0, 0, tzinfo=UTC)
    assert retries.parse_retry_after("5") == 5.0
    assert retries.parse_retry_after(None) is None
    assert retries.parse_retry_after("soon") is None
    assert retries.parse_retry_after("Mon, 01 Jan 2024 00:00:10 GMT", now) == 10.0


def test_which_failures_may_be_retried() -> None:
    assert retries.may_retry_response("POST", 429, None)
    assert retries.may_retry_response("POST", 500, 1.0)
    assert not retries.may_retry_response("POST", 503, None)
    assert retries.may_retry_response("GET", 503, None)
    assert not retries.may_retry_response("GET", 500, None)
    assert not retries.may_retry_response("GET", 404, None)
    assert retries.may_retry_transport_error("POST", request_was_sent=False)
    assert not retries.may_retry_transport_error("PUT", request_was_sent=True)
    assert retries.may_retry_transport_error("GET", request_was_sent=True)


# --- watch streams --------------------------------------------------------------------------


def test_line_buffer_joins_lines_split_across_chunks() -> None:
    buffer = LineBuffer()
    assert buffer.feed(b'{"a":') == []
    assert buffer.feed(b'1}\n{"b"') == [b'{"a":1}']
    assert buffer.feed(b":2}\n\n") == [b'{"b":2}']
    assert buffer.feed(b'{"c":3}') == []
    assert buffer.flush() == b'{"c":3}'
    assert buffer.flush() is None
    # whole events in one chunk (the usual case: split in place), blank lines skipped
    assert buffer.feed(b'{"d":4}\n \r\n{"e":5}\n{"f"') == [b'{"d":4}', b'{"e":5}']
    assert buffer.feed(b":6}\n") == [b'{"f":6}']
    assert buffer.flush() is None


def test_parse_event_and_error_events() -> None:
    event = parse_event(b'{"type":"ADDED","object":{"metadata":{"resourceVersion":"5"}}}')
    assert event == WatchEvent("ADDED", {"metadata": {"resourceVersion": "5"}})
    assert event.resource_version == "5"
    expired = orjson.dumps({"type": "ERROR", "object": status(410, "Expired", "too old")})
    with pytest.raises(errors.Expired, match="too old"):
        parse_event(expired)
    gone = orjson.dumps({"type": "ERROR", "object": {"kind": "Status", "code": 410}})
    with pytest.raises(errors.Expired):
        parse_event(gone)
    with pytest.raises(errors.InternalError, match="malformed"):
        parse_event(b"not json")


async def test_watch_streams_events_and_raises_an_in_stream_error() -> None:
    lines = [
        b'{"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"1"}}}\n{"ty',
        b'pe":"BOOKMARK","object":{"metadata":{"resourceVersion":"2"}}}\n',
        orjson.dumps({"type": "ERROR", "object": status(410, "Expired", "gone")}) + b"\n",
    ]

    async def chunks() -> AsyncIterator[bytes]:
        for line in lines:
            yield line

    rec = Recorder(httpx.Response(200, content=chunks()))
    got: list[WatchEvent] = []
    async with make_client(rec) as client:
        with pytest.raises(errors.Expired):
            async with client.watch(PODS, "ns", resource_version="0", timeout_seconds=30) as w:
                async for event in w:
                    got.append(event)
    assert [(e.type, e.resource_version) for e in got] == [("ADDED", "1"), ("BOOKMARK", "2")]
    assert dict(rec.requests[0].url.params) == {
        "watch": "1",
        "resourceVersion": "0",
        "allowWatchBookmarks": "true",
        "timeoutSeconds": "30",
    }


async def test_a_watch_whose_connection_breaks_raises_server_unreachable() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"1"}}}\n'
        raise TransportFailure("peer closed connection", sent=True)

    async with make_client(Recorder(httpx.Response(200, content=chunks()))) as client:
        stream = client.watch(NODES)
        first = await anext(stream)
        assert first.type == "ADDED"
        with pytest.raises(exceptions.StreamBroken, match=r"watch /api/v1/nodes.*mid-stream"):
            await anext(stream)
        with pytest.raises(StopAsyncIteration):
            await anext(stream)


async def test_an_untrusted_certificate_fails_at_once_and_says_so() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        cause = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED]")
        raise TransportFailure("certificate verify failed", sent=False, tls_error=cause)

    async with make_client(handler) as client:
        with pytest.raises(exceptions.TLSFailure, match="TLS handshake with the apiserver at"):
            await client.get(PODS, "x")
    assert len(calls) == 1, "retrying cannot fix a certificate"


def test_aiohttp_failures_say_whether_the_request_was_sent() -> None:
    key = aiohttp.client_reqrep.ConnectionKey("h", 1, False, False, None, None, None)
    refused = aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "refused"))
    assert not failure_from(refused).sent
    assert not failure_from(aiohttp.ConnectionTimeoutError("pool")).sent
    read_timeout = failure_from(aiohttp.SocketTimeoutError("read"))
    assert read_timeout.sent and read_timeout.timed_out
    assert failure_from(TimeoutError()).timed_out
    assert failure_from(aiohttp.ServerDisconnectedError()).sent
    cut = failure_from(aiohttp.ClientPayloadError("<TransferEncodingError: Not enough data>"))
    assert cut.sent and str(cut) == "the response ended before its last byte (connection closed)"
    bad_cert = ssl.SSLCertVerificationError(1, "certificate verify failed")
    untrusted = failure_from(aiohttp.ClientConnectorCertificateError(key, bad_cert))
    assert not untrusted.sent and untrusted.tls_error is bad_cert
