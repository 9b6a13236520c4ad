"""A pod's log streamed to the browser (`kubectl logs -f`): the apiserver's `log` subresource
with `follow=true`, relayed line by line as SSE `lines` events (one event per chunk read)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from minik8s.api import errors, resources
from minik8s.client.api import ApiClient
from minik8s.client.watch import LineBuffer
from minik8s.dashboard import sse
from minik8s.dashboard.streams import failure

MAX_TAIL = 5000


async def log_stream(
    client: ApiClient, namespace: str, pod: str, container: str | None, follow: bool, tail: int
) -> AsyncIterator[bytes]:
    params: dict[str, str] = {"tailLines": str(max(0, min(tail, MAX_TAIL)))}
    if container:
        params["container"] = container
    if follow:
        params["follow"] = "true"
    path = resources.PODS.object_path(namespace, pod) + "/log"
    try:
        response = await client.stream("GET", path, params=params)
    except errors.ApiError as e:
        yield failure(e)
        return
    buffer = LineBuffer()
    try:
        async for chunk in response.chunks():
            lines = [line.decode(errors="replace") for line in buffer.feed(chunk)]
            if lines:
                yield sse.event("lines", lines)
        rest = buffer.flush()
        if rest:
            yield sse.event("lines", [rest.decode(errors="replace")])
        yield sse.event("end", {"message": "the log stream ended"})
    except errors.ApiError as e:
        yield failure(e)
    except Exception as e:  # the transport's failure: the apiserver or kubelet went away
        yield sse.event("end", {"message": f"the log stream broke: {type(e).__name__}"})
    finally:
        await response.aclose()
