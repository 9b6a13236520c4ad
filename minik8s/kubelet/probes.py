"""Liveness, readiness and startup probes: one task per probe of each running container.

`ProbeTracker` is the pure part (thresholds → result); `run_probe` performs one httpGet,
tcpSocket or exec check; `ProbeManager` owns the tasks and tells the pod worker when a result
changes. A probe connects to its `host` (an address or name) when it has one, else to the pod's
IP, as in Kubernetes; Pod Security's baseline level (v1.34 and later) forbids a `host`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx

from minik8s.api.meta import Object
from minik8s.client import tasks
from minik8s.kubelet import init_plan
from minik8s.kubelet.runtime import Runtime, RuntimeError_

logger = logging.getLogger(__name__)


class Kind(StrEnum):
    LIVENESS = "livenessProbe"
    READINESS = "readinessProbe"
    STARTUP = "startupProbe"


INITIAL = {Kind.LIVENESS: True, Kind.READINESS: False, Kind.STARTUP: False}
"""The result before the first probe: alive, not ready, not started."""


@dataclass
class ProbeTracker:
    """Consecutive successes / failures against the probe's thresholds (pure)."""

    kind: Kind
    success_threshold: int = 1
    failure_threshold: int = 3
    result: bool = field(init=False)
    successes: int = 0
    failures: int = 0

    def __post_init__(self) -> None:
        self.result = INITIAL[self.kind]

    @classmethod
    def for_probe(cls, kind: Kind, probe: Object) -> ProbeTracker:
        success = int(probe.get("successThreshold") or 1)
        if kind is not Kind.READINESS:
            success = 1  # Kubernetes requires 1 for liveness and startup
        return cls(kind, success, int(probe.get("failureThreshold") or 3))

    def observe(self, ok: bool) -> bool:
        """Record one probe outcome; True when the result flipped."""
        if ok:
            self.successes, self.failures = self.successes + 1, 0
            flip = not self.result and self.successes >= self.success_threshold
        else:
            self.failures, self.successes = self.failures + 1, 0
            flip = self.result and self.failures >= self.failure_threshold
            if not self.result and self.kind is Kind.READINESS:
                flip = False
        if flip:
            self.result = not self.result
        return flip


def resolve_port(port: int | str, container: Object) -> int:
    if isinstance(port, int):
        return port
    if port.isdigit():
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    raise ValueError(f"port {port!r} is not a named port of container {container.get('name')}")


USER_AGENT = "kube-probe/1.32"
"""What the kubelet sends as User-Agent (Kubernetes': kube-probe/<major>.<minor>)."""
MAX_REDIRECTS = 10
BODY_LIMIT = 10 * 1024
"""Bytes of a probe's response read at most (the kubelet reads 10 KiB)."""


def probe_url(scheme: str, host: str, port: int, path: str) -> httpx.URL:
    """The URL of an httpGet probe, built from its parts as the kubelet's formatURL does: the
    path (with its query) never changes the host or the port, whatever it holds
    (`@169.254.169.254/…` is a path on the pod, not userinfo before another host)."""
    path, _, query = path.partition("#")[0].partition("?")
    if not path.startswith("/"):
        path = "/" + path  # what Go's URL.String writes for a path after a host
    parts: dict[str, Any] = {"scheme": scheme, "host": host, "port": port, "path": path}
    if query:
        parts["query"] = query.encode()
    return httpx.URL(**parts)


def probe_headers(action: Object) -> dict[str, str]:
    """The request's headers: kube-probe's User-Agent and `Accept: */*` unless `httpHeaders`
    sets them; a `Host` header there is the Host the request names, as in Kubernetes."""
    headers = {"User-Agent": USER_AGENT, "Accept": "*/*"}
    for header in action.get("httpHeaders") or []:
        name = str(header.get("name") or "")
        if name:
            headers = {k: v for k, v in headers.items() if k.lower() != name.lower()}
            headers[name] = str(header.get("value") or "")
    return headers


async def http_probe(
    http: httpx.AsyncClient, url: httpx.URL, headers: dict[str, str], timeout: float
) -> tuple[bool, str]:
    """GET `url`: 200-399 succeed. Redirects are followed (at most 10) only on the same host;
    one to another host ends the probe as a success, as the kubelet's does."""
    for _ in range(MAX_REDIRECTS + 1):
        async with http.stream("GET", url, headers=headers, timeout=timeout) as response:
            body = b""
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) >= BODY_LIMIT:
                    break
            code = response.status_code
            location = response.headers.get("location")
        if not (300 <= code < 400 and location):
            return 200 <= code < 400, f"HTTP {code}"
        target = url.join(location)
        if target.host != url.host:
            return True, f"Probe terminated redirects, Response Status: {code}"
        url = target
    return False, f"stopped after {MAX_REDIRECTS} redirects"


async def run_probe(
    probe: Object,
    container: Object,
    container_id: str,
    pod_ip: str,
    runtime: Runtime,
    http: httpx.AsyncClient,
) -> tuple[bool, str]:
    """One check: (success, message)."""
    timeout = float(probe.get("timeoutSeconds") or 1)
    try:
        if probe.get("exec"):
            command = list(probe["exec"].get("command") or [])
            code, output = await runtime.exec(container_id, command, timeout)
            return code == 0, output.decode(errors="replace")[:200]
        if probe.get("httpGet"):
            action = probe["httpGet"]
            port = resolve_port(action["port"], container)
            scheme = str(action.get("scheme") or "HTTP").lower()
            url = probe_url(scheme, action.get("host") or pod_ip, port, action.get("path") or "/")
            return await http_probe(http, url, probe_headers(action), timeout)
        if probe.get("tcpSocket"):
            action = probe["tcpSocket"]
            host = action.get("host") or pod_ip
            port = resolve_port(action["port"], container)
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
            writer.close()
            return True, ""
        return False, "the probe has no handler"
    except (TimeoutError, httpx.TimeoutException):
        return False, f"timed out after {timeout:.0f}s"
    except (OSError, httpx.HTTPError, RuntimeError_, ValueError) as e:
        return False, str(e) or type(e).__name__


@dataclass
class _Worker:
    task: asyncio.Task[None]
    container_id: str


class ProbeManager:
    """Probe tasks keyed by (pod uid, container name, kind); results read by the worker."""

    def __init__(
        self, runtime: Runtime, on_change: Callable[[str], None], always_succeed: bool = False
    ) -> None:
        self.runtime = runtime
        self.on_change = on_change
        self.always_succeed = always_succeed
        """The fake runtime: every probe passes at once, nothing is contacted."""
        self._workers: dict[tuple[str, str, Kind], _Worker] = {}
        self._results: dict[tuple[str, str, Kind], bool] = {}
        self._http = httpx.AsyncClient(verify=False, trust_env=False, follow_redirects=False)

    def results(self, uid: str, kind: Kind) -> dict[str, bool]:
        return {name: ok for (u, name, k), ok in self._results.items() if u == uid and k is kind}

    def liveness_failed(self, uid: str) -> frozenset[str]:
        return frozenset(n for n, ok in self.results(uid, Kind.LIVENESS).items() if not ok)

    def sync(self, pod: Object, running: dict[str, tuple[str, float]], pod_ip: str) -> None:
        """Probe exactly the running containers (app containers and sidecars): name →
        (container id, started at)."""
        uid = pod["metadata"]["uid"]
        key = f"{pod['metadata'].get('namespace')}/{pod['metadata'].get('name')}"
        wanted: set[tuple[str, str, Kind]] = set()
        for spec in [*init_plan.sidecars(pod), *(pod["spec"].get("containers") or [])]:
            name = spec["name"]
            if name not in running:
                continue
            container_id, started_at = running[name]
            for kind in Kind:
                probe = spec.get(kind.value)
                if not probe:
                    continue
                k = (uid, name, kind)
                wanted.add(k)
                worker = self._workers.get(k)
                if worker is not None and worker.container_id == container_id:
                    continue
                if worker is not None:
                    worker.task.cancel()
                self._results[k] = INITIAL[kind]
                coro = self._probe_loop(key, uid, spec, kind, container_id, started_at, pod_ip)
                task = tasks.spawn(coro, f"probe {key}/{name} {kind.name.lower()}")
                self._workers[k] = _Worker(task, container_id)
        for k in [k for k in self._workers if k[0] == uid and k not in wanted]:
            self._workers.pop(k).task.cancel()
            self._results.pop(k, None)

    def forget(self, uid: str) -> None:
        for k in [k for k in self._workers if k[0] == uid]:
            self._workers.pop(k).task.cancel()
        for k in [k for k in self._results if k[0] == uid]:
            del self._results[k]

    async def close(self) -> None:
        await tasks.cancel_and_wait([w.task for w in self._workers.values()])
        self._workers.clear()
        await self._http.aclose()

    async def _probe_loop(
        self,
        key: str,
        uid: str,
        spec: Object,
        kind: Kind,
        container_id: str,
        started_at: float,
        pod_ip: str,
    ) -> None:
        probe = spec[kind.value]
        tracker = ProbeTracker.for_probe(kind, probe)
        period = float(probe.get("periodSeconds") or 10)
        loop = asyncio.get_running_loop()
        delay = float(probe.get("initialDelaySeconds") or 0)
        wait = max(0.0, started_at + delay - time.time())
        await asyncio.sleep(wait)
        name = spec["name"]
        while True:
            started = loop.time()
            startup = self._results.get((uid, name, Kind.STARTUP))
            if kind is Kind.STARTUP and startup:
                return  # a startup probe stops once it succeeded
            if kind is Kind.STARTUP or startup is None or startup:
                if self.always_succeed:
                    ok, message = True, ""
                else:
                    ok, message = await run_probe(
                        probe, spec, container_id, pod_ip, self.runtime, self._http
                    )
                if tracker.observe(ok):
                    self._results[(uid, name, kind)] = tracker.result
                    logger.info(
                        "%s: container %s %s %s%s",
                        key,
                        name,
                        kind.value,
                        "succeeded" if tracker.result else "failed",
                        f": {message}" if message and not tracker.result else "",
                    )
                    self.on_change(uid)
            await asyncio.sleep(max(0.0, period - (loop.time() - started)))
