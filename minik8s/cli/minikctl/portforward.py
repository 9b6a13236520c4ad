"""`minikctl port-forward TYPE/NAME [LOCAL:]REMOTE ...`, with kubectl's flags and output.

The object resolves to a pod as kubectl does it: `pod/x` itself; a Service, Deployment,
ReplicaSet, StatefulSet, DaemonSet or Job picks a running pod of its selector (ready first,
then the newest), and a Service's port becomes the pod's target port (a named `targetPort`
is looked up among the pod's container ports). Each local connection is its own WebSocket to
`pods/<name>/portforward?ports=<remote>` (`v4.channel.k8s.io`: channel 0 carries the data,
channel 1 an error), like the official Python client.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import sys
from dataclasses import dataclass
from typing import Annotated

import typer
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus, WebSocketException
from websockets.typing import Subprotocol

from minik8s.api import podutil, selectors
from minik8s.api.meta import Object
from minik8s.api.resources import PODS, SERVICES
from minik8s.cli.minikctl import errors, session, targets
from minik8s.client import tls
from minik8s.client.api import ApiClient
from minik8s.client.kubeconfig import ClientConfig

SUBPROTOCOL = Subprotocol("v4.channel.k8s.io")
WITH_SELECTOR = ("deployments", "replicasets", "statefulsets", "daemonsets", "jobs",
                 "replicationcontrollers")  # fmt: skip


@dataclass(frozen=True)
class PortPair:
    local: int
    """0: any free port."""
    remote: int | str
    """A number, or a Service port's name until it is translated."""


def parse_port(spec: str) -> PortPair:
    """`8080:80`, `:80` (a free local port), `80` (the same local port)."""
    local, sep, remote = spec.rpartition(":")
    if not sep:
        local = remote
    try:
        remote_port: int | str = int(remote) if remote.isdigit() else remote
        local_port = int(local) if local else 0
    except ValueError as e:
        raise errors.CliError(f"Error parsing local port '{local}': {e}") from e
    if isinstance(remote_port, int) and not 0 < remote_port < 65536:
        raise errors.CliError(f"Error parsing remote port '{remote}': out of range")
    if not 0 <= local_port < 65536:
        raise errors.CliError(f"Error parsing local port '{local}': out of range")
    return PortPair(local_port, remote_port)


def pick_pod(pods: list[Object]) -> Object | None:
    """The pod kubectl would choose: running, ready first, then the newest."""

    def created(pod: Object) -> str:
        return str((pod.get("metadata") or {}).get("creationTimestamp") or "")

    running = [p for p in pods if podutil.pod_phase(p) == "Running"]
    running.sort(key=lambda p: (podutil.pod_is_ready(p), created(p)), reverse=True)
    return running[0] if running else None


def service_target_port(service: Object, pod: Object, port: int | str) -> int:
    """The pod port a Service port forwards to (kubectl's translateServicePortToTargetPort)."""
    name = service["metadata"]["name"]
    for entry in (service.get("spec") or {}).get("ports") or []:
        if entry.get("port") != port and entry.get("name") != port:
            continue
        target = entry.get("targetPort", entry.get("port"))
        if isinstance(target, int):
            return target or int(entry["port"])
        if isinstance(target, str) and target.isdigit():
            return int(target)
        for container in (pod.get("spec") or {}).get("containers") or []:
            for container_port in container.get("ports") or []:
                if container_port.get("name") == target:
                    return int(container_port["containerPort"])
        raise errors.CliError(
            f"Pod '{pod['metadata']['name']}' does not have a named port '{target}'"
        )
    raise errors.CliError(f"Service {name} does not have a service port {port}")


async def resolve(client: ApiClient, namespace: str, target: targets.Target
                  ) -> tuple[Object, Object | None]:  # fmt: skip
    """(the pod, the Service when one was named)."""
    assert target.name is not None
    obj = await client.get(target.rt, target.name, namespace)
    if target.rt is PODS:
        return obj, None
    if target.rt is SERVICES:
        selector = selectors.label_selector_from_set((obj.get("spec") or {}).get("selector"))
    elif target.rt.plural in WITH_SELECTOR:
        selector = selectors.label_selector_from_object((obj.get("spec") or {}).get("selector"))
    else:
        raise errors.CliError(f"cannot attach to {target.rt.kind}: not implemented")
    pods = await client.list(PODS, namespace, label_selector=str(selector))
    pod = pick_pod(pods.get("items") or [])
    if pod is None:
        what = f"{targets.qualified(target.rt)}/{target.name}"
        raise errors.CliError(f"unable to find a running pod for {what}")
    return pod, obj if target.rt is SERVICES else None


class Forwarder:
    def __init__(self, config: ClientConfig, pod_path: str) -> None:
        self.config = config
        self.pod_path = pod_path
        context = tls.tls_context(config) if config.server.startswith("https://") else None
        self.ssl = context if isinstance(context, ssl.SSLContext) else None
        self.headers = config.auth_headers()
        self.lost = asyncio.Event()

    async def handle(self, local: int, remote: int, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:  # fmt: skip
        print(f"Handling connection for {local}", flush=True)
        url = self.config.websocket_url(f"{self.pod_path}/portforward?ports={remote}")
        try:
            async with connect(url, subprotocols=[SUBPROTOCOL], additional_headers=self.headers,
                               ssl=self.ssl, max_size=None, open_timeout=30) as ws:  # fmt: skip
                await self._relay(ws, reader, writer, local, remote)
        except InvalidStatus as e:
            print(f"error: an error occurred forwarding {local} -> {remote}: "
                  f"HTTP {e.response.status_code}", file=sys.stderr, flush=True)  # fmt: skip
            self.lost.set()
        except (OSError, WebSocketException) as e:
            print(f"error: lost connection to pod: {e}", file=sys.stderr, flush=True)
            self.lost.set()
        finally:
            writer.close()

    async def _relay(self, ws: ClientConnection, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter, local: int, remote: int) -> None:  # fmt: skip
        opened: set[int] = set()

        async def down() -> None:
            async for message in ws:
                frame = message if isinstance(message, bytes) else message.encode()
                if not frame:
                    continue
                channel, data = frame[0], frame[1:]
                if channel not in opened:
                    opened.add(channel)  # the first frame of each channel is the port number
                    continue
                if channel == 0:
                    writer.write(data)
                    await writer.drain()
                elif channel == 1 and data:
                    text = data.decode(errors="replace")
                    print(f"error: an error occurred forwarding {local} -> {remote}: {text}",
                          file=sys.stderr, flush=True)  # fmt: skip
                    self.lost.set()  # as kubectl 1.32: an error ends the whole forwarding
                    return

        async def up() -> None:
            while chunk := await reader.read(256 * 1024):
                await ws.send(b"\x00" + chunk)

        tasks = [asyncio.ensure_future(down()), asyncio.ensure_future(up())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


async def listen(forwarder: Forwarder, addresses: list[str], local: int, remote: int
                 ) -> list[asyncio.Server]:  # fmt: skip
    servers: list[asyncio.Server] = []
    chosen = local  # 0: the first address picks a free port, the others take the same

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await forwarder.handle(chosen, remote, reader, writer)

    for address in addresses:
        try:
            server = await asyncio.start_server(handle, address, chosen)
        except OSError as e:
            print(f"Unable to listen on port {local}: {e}", file=sys.stderr, flush=True)
            continue
        chosen = server.sockets[0].getsockname()[1]
        shown = f"[{address}]" if ":" in address else address
        print(f"Forwarding from {shown}:{chosen} -> {remote}", flush=True)
        servers.append(server)
    return servers


def register(app: typer.Typer) -> None:
    @app.command("port-forward", help="Forward one or more local ports to a pod.")
    def port_forward(
        ctx: typer.Context,
        target: Annotated[str, typer.Argument(help="TYPE/NAME or POD")],
        ports: Annotated[list[str], typer.Argument(help="[LOCAL_PORT:]REMOTE_PORT ...")],
        address: Annotated[
            str, typer.Option("--address", help="Addresses to listen on (comma separated)")
        ] = "localhost",
    ) -> None:
        s = session.of(ctx)
        with errors.handled():
            wanted = targets.one([target]) if "/" in target else targets.Target(PODS, target)
            pairs = [parse_port(p) for p in ports]
            addresses = []
            for a in address.split(","):
                addresses += ["127.0.0.1", "::1"] if a.strip() == "localhost" else [a.strip()]

        async def go(client: ApiClient) -> None:
            pod, service = await resolve(client, s.namespace, wanted)
            if podutil.pod_phase(pod) != "Running":
                raise errors.CliError(
                    "unable to forward port because pod is not running. "
                    f"Current status={podutil.pod_phase(pod)}"
                )
            path = PODS.object_path(s.namespace, pod["metadata"]["name"])
            forwarder = Forwarder(s.config, path)
            servers: list[asyncio.Server] = []
            for pair in pairs:
                remote = pair.remote
                if service is not None:
                    remote = service_target_port(service, pod, remote)
                if not isinstance(remote, int):
                    raise errors.CliError(f"invalid port: {remote}")
                servers += await listen(forwarder, addresses, pair.local or 0, remote)
            if not servers:
                raise errors.CliError(
                    f"unable to listen on any of the requested ports: {[p.local for p in pairs]}"
                )
            try:
                await forwarder.lost.wait()
            finally:
                for server in servers:
                    server.close()
            raise errors.CliError("lost connection to pod")

        with contextlib.suppress(KeyboardInterrupt):
            s.run(go)
