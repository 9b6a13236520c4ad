"""Container lifecycle hooks: the `postStart` and `preStop` handlers (Kubernetes' kubelet
`lifecycle.handlerRunner`).

A handler is an `exec` (a command in the container: it fails when the command exits
non-zero), an `httpGet` (a GET to the pod, its URL built from its parts as probes build
theirs: it fails only when no response comes, whatever the status code, as in Kubernetes)
or a `sleep` (seconds). `tcpSocket` is accepted by the API for compatibility but is not a
lifecycle handler: it fails at run time, as in Kubernetes. Failures carry Kubernetes'
messages (`Exec lifecycle hook ([sh -c exit 1]) for Container "c" in Pod "p_ns(uid)"
failed - error: …`); the caller decides what a failure means (a failed postStart kills the
container; a failed preStop only says so).
"""

from __future__ import annotations

import asyncio
import logging

import httpx

from minik8s.api.meta import Object
from minik8s.kubelet import probes
from minik8s.kubelet.runtime import Runtime, RuntimeError_

logger = logging.getLogger(__name__)

USER_AGENT = "kube-lifecycle/1.32"
"""What the kubelet sends as User-Agent for httpGet hooks (kube-lifecycle/<major>.<minor>)."""
EXEC_TIMEOUT = 24 * 3600.0
"""An exec hook has no timeout of its own in Kubernetes; the caller bounds or cancels it."""
POST_START = "postStart"
PRE_STOP = "preStop"


class HookError(Exception):
    """A handler failed; the message is Kubernetes' (it may quote the command's output)."""


def pod_label(pod: Object) -> str:
    """`name_namespace(uid)`, as the kubelet names a pod in its messages."""
    meta = pod.get("metadata") or {}
    return f"{meta.get('name', '')}_{meta.get('namespace', '')}({meta.get('uid', '')})"


def handler_of(container: Object, hook: str) -> Object | None:
    handler = (container.get("lifecycle") or {}).get(hook)
    return handler if isinstance(handler, dict) else None


class HookRunner:
    """Runs handlers. With the hollow runtime (`hollow`) nothing is contacted over HTTP."""

    def __init__(self, runtime: Runtime, hollow: bool = False) -> None:
        self.runtime = runtime
        self.hollow = hollow
        self._http = httpx.AsyncClient(verify=False, trust_env=False, follow_redirects=False)

    async def run(
        self, pod: Object, container: Object, container_id: str, handler: Object, pod_ip: str
    ) -> None:
        """Run `handler` for `container`; raise `HookError` when it fails."""
        name, label = str(container.get("name") or ""), pod_label(pod)
        if handler.get("exec") is not None:
            command = [str(part) for part in handler["exec"].get("command") or []]
            try:
                code, output = await self.runtime.exec(container_id, command, EXEC_TIMEOUT)
            except (RuntimeError_, TimeoutError) as e:
                raise HookError(
                    f'Exec lifecycle hook ([{" ".join(command)}]) for Container "{name}" in '
                    f'Pod "{label}" failed - error: {e}, message: ""'
                ) from e
            if code != 0:
                raise HookError(
                    f'Exec lifecycle hook ([{" ".join(command)}]) for Container "{name}" in '
                    f"Pod \"{label}\" failed - error: command '{' '.join(command)}' exited with "
                    f'{code}: , message: "{_quote(output)}"'
                )
            return
        if handler.get("httpGet") is not None:
            action = handler["httpGet"]
            try:
                await self._http_get(action, container, pod_ip)
            except (OSError, httpx.HTTPError, ValueError) as e:
                raise HookError(
                    f'HTTP lifecycle hook ({action.get("path") or ""}) for Container "{name}" '
                    f'in Pod "{label}" failed - error: {e or type(e).__name__}'
                ) from e
            return
        if handler.get("sleep") is not None:
            await asyncio.sleep(max(0, int(handler["sleep"].get("seconds") or 0)))
            return
        kinds = ", ".join(sorted(handler)) or "none"
        raise HookError(
            f"Cannot run handler: invalid handler: {kinds} is not a lifecycle handler "
            "(use exec, httpGet or sleep)"
        )

    async def _http_get(self, action: Object, container: Object, pod_ip: str) -> None:
        port = probes.resolve_port(action.get("port") or 80, container)
        scheme = str(action.get("scheme") or "HTTP").lower()
        host = action.get("host") or pod_ip
        url = probes.probe_url(scheme, host, port, action.get("path") or "/")
        headers = probes.probe_headers(action)
        named = {str(h.get("name") or "").lower() for h in action.get("httpHeaders") or []}
        if "user-agent" not in named:
            headers["User-Agent"] = USER_AGENT
        if self.hollow:
            return  # a hollow pod's address leads nowhere: never contact it
        async with self._http.stream("GET", url, headers=headers, timeout=EXEC_TIMEOUT) as response:
            read = 0  # the body is read (10 KiB at most) and dropped; the status does not matter
            async for chunk in response.aiter_bytes():
                read += len(chunk)
                if read >= probes.BODY_LIMIT:
                    break

    async def close(self) -> None:
        await self._http.aclose()


def _quote(output: bytes) -> str:
    """The command's output as Go's %q would quote it (without the outer quotes)."""
    text = output.decode(errors="replace")
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
