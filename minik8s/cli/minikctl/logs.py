"""`minikctl logs POD [-c C] [-f] [--tail N]` and `minikctl exec POD -- CMD` over the pods'
`log` and `exec` subresources (a clear line when the cluster does not serve them yet)."""

from __future__ import annotations

import sys
import urllib.parse
from typing import Annotated, Any

import typer

from minik8s.api import errors as api_errors
from minik8s.api.resources import PODS
from minik8s.cli.minikctl import errors, execstream, session, targets
from minik8s.client.api import ApiClient


def log_params(
    container: str | None, follow: bool, tail: int, previous: bool, timestamps: bool,
    since: int | None,
) -> dict[str, Any]:  # fmt: skip
    params: dict[str, Any] = {"container": container}
    if follow:
        params["follow"] = "true"
    if tail >= 0:
        params["tailLines"] = tail
    if previous:
        params["previous"] = "true"
    if timestamps:
        params["timestamps"] = "true"
    if since is not None:
        params["sinceSeconds"] = since
    return params


def _pod_name(arg: str) -> str:
    if "/" in arg:
        target = targets.one([arg])
        if target.rt is not PODS:
            raise errors.CliError(f"logs of {target.rt.plural} are not supported; name a pod")
        assert target.name is not None
        return target.name
    return arg


def not_served(e: api_errors.ApiError, what: str) -> errors.CliError | None:
    """A clear line when the apiserver does not serve a subresource yet (501/405)."""
    if isinstance(e, api_errors.NotImplementedYet | api_errors.MethodNotAllowed):
        return errors.CliError(f"{what}: not supported yet (server: {e.message})")
    return None


def register(app: typer.Typer) -> None:
    @app.command("logs", help="Print the logs of a container in a pod.")
    def logs(
        ctx: typer.Context,
        pod: Annotated[str, typer.Argument(help="POD or pod/POD")],
        container: Annotated[str | None, typer.Option("--container", "-c")] = None,
        follow: Annotated[bool, typer.Option("--follow", "-f", help="Stream new lines")] = False,
        tail: Annotated[int, typer.Option("--tail", help="Last N lines; -1: all")] = -1,
        previous: Annotated[bool, typer.Option("--previous", "-p")] = False,
        timestamps: Annotated[bool, typer.Option("--timestamps")] = False,
        since: Annotated[int | None, typer.Option("--since-seconds")] = None,
    ) -> None:
        s = session.of(ctx)
        with errors.handled():
            name = _pod_name(pod)
        params = log_params(container, follow, tail, previous, timestamps, since)

        async def go(client: ApiClient) -> None:
            path = PODS.object_path(s.namespace, name) + "/log"
            try:
                if not follow:
                    text = await client.request("GET", path, params=params)
                    sys.stdout.write(text if isinstance(text, str) else str(text or ""))
                    sys.stdout.flush()
                    return
                response = await client.stream("GET", path, params=params)
                try:
                    async for chunk in response.chunks():
                        sys.stdout.buffer.write(chunk)
                        sys.stdout.flush()
                finally:
                    await response.aclose()
            except api_errors.ApiError as e:
                raise not_served(e, "logs") or e from None

        s.run(go)

    @app.command("exec", help="Run a command in a container (`exec POD -- CMD ARGS...`).")
    def exec_(
        ctx: typer.Context,
        pod: Annotated[str, typer.Argument(help="POD or pod/POD")],
        command: Annotated[list[str], typer.Argument(help="-- CMD ARGS...")],
        container: Annotated[str | None, typer.Option("--container", "-c")] = None,
        stdin: Annotated[bool, typer.Option("--stdin", "-i")] = False,
        tty: Annotated[bool, typer.Option("--tty", "-t")] = False,
    ) -> None:
        s = session.of(ctx)
        with errors.handled():
            name = _pod_name(pod)
            if stdin or tty:
                raise errors.CliError("interactive exec (-i/-t) is not supported yet")
        params: list[tuple[str, str]] = [("command", c) for c in command]
        params += [("stdout", "true"), ("stderr", "true")]
        if container:
            params.append(("container", container))

        async def go(client: ApiClient) -> None:
            query = urllib.parse.urlencode(params)  # repeated `command=` keys, in order
            path = PODS.object_path(s.namespace, name) + "/exec?" + query
            try:
                code = await execstream.run(s.config, path)
            except api_errors.ApiError as e:
                raise not_served(e, "exec") or e from None
            if code != 0:
                raise typer.Exit(code)

        s.run(go)
