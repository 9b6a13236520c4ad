"""The kubelet's streaming endpoints, reached by upgrade requests (SPDY or WebSocket):

    /exec/{namespace}/{pod}[/{uid}]/{container}?command=…&stdin=1&stdout=1&stderr=1&tty=1
    /attach/{namespace}/{pod}[/{uid}]/{container}?stdin=1&stdout=1&tty=1
    /portForward/{namespace}/{pod}[/{uid}][?ports=80,443]   (ports: WebSocket channels only)

The request has been authenticated and authorized (`nodes/proxy`) before it gets here.
Anything else goes on to the plain HTTP app.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import QueryParams

from minik8s.componentbase import upgrade as upgrades
from minik8s.kubelet.runtime import SANDBOX, Container, Runtime
from minik8s.kubelet.streaming import handshake, portforward, remotecommand
from minik8s.kubelet.streaming.handshake import HandshakeError
from minik8s.kubelet.streaming.remotecommand import Options

logger = logging.getLogger(__name__)

STREAMING_PREFIXES = ("/exec/", "/attach/", "/portForward/")

Lookup = Callable[[str, str, str], Awaitable[Container | None]]
"""(namespace, pod, container name or SANDBOX) -> the newest such container, or None."""


def is_streaming_path(path: str) -> bool:
    return path.startswith(STREAMING_PREFIXES)


@dataclass(frozen=True)
class StreamPath:
    verb: str
    namespace: str
    pod: str
    uid: str | None = None
    container: str | None = None


def parse_path(path: str) -> StreamPath | None:
    parts = [p for p in path.split("/") if p]
    if not parts:
        return None
    verb, rest = parts[0], parts[1:]
    if verb in ("exec", "attach") and len(rest) in (3, 4):
        uid = rest[2] if len(rest) == 4 else None
        return StreamPath(verb, rest[0], rest[1], uid, rest[-1])
    if verb == "portForward" and len(rest) in (2, 3):
        return StreamPath(verb, rest[0], rest[1], rest[2] if len(rest) == 3 else None)
    return None


class StreamingApp:
    def __init__(self, app: Any, runtime: Runtime, lookup: Lookup) -> None:
        self.app = app
        self.runtime = runtime
        self.lookup = lookup

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        found = upgrades.upgrade_of(scope) if scope["type"] == "http" else None
        target = parse_path(scope["path"]) if found is not None else None
        if found is None or target is None:
            await self.app(scope, receive, send)
            return
        connection = found.claim()
        try:
            await self._serve(scope, connection, target)
        except HandshakeError as e:
            logger.info("%s %s/%s refused: %s", target.verb, target.namespace, target.pod, e)
            handshake.refuse(connection, e)

    async def _serve(self, scope: Any, connection: upgrades.RawConnection,
                     target: StreamPath) -> None:  # fmt: skip
        query = QueryParams(scope.get("query_string", b""))
        what = f"{target.namespace}/{target.pod}"
        if target.verb == "portForward":
            sandbox = await self.lookup(target.namespace, target.pod, SANDBOX)
            if sandbox is None or (target.uid and sandbox.pod_uid != target.uid):
                raise HandshakeError(404, f'pod "{target.pod}" not found', "NotFound")
            sandbox_id = sandbox.id

            async def dial(port: int) -> Any:
                return await self.runtime.open_port(sandbox_id, port)

            logger.info("%s: port forwarding", what)
            await portforward.serve(
                scope, connection, query, portforward.Target(target.pod, sandbox.pod_uid, dial)
            )
            return
        attach = target.verb == "attach"
        options = Options.from_query(query, attach)
        assert target.container is not None
        container = await self.lookup(target.namespace, target.pod, target.container)
        if container is None or (target.uid and container.pod_uid != target.uid):
            raise HandshakeError(
                404, f'container "{target.container}" in pod "{target.pod}" not found', "NotFound"
            )
        container_id = container.id

        async def start(options: Options) -> Any:
            if attach:
                return await self.runtime.attach(container_id, options.stdin, options.tty)
            return await self.runtime.exec_stream(
                container_id, list(options.command), options.stdin, options.tty
            )

        verb = "attach to" if attach else f"exec {list(options.command)} in"
        await remotecommand.serve(
            scope, connection, options, start, f"{what}: {verb} {target.container}"
        )
