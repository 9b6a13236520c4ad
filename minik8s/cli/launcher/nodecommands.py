"""`minik8s token create|list|delete` and `minik8s join`: nodes joining a cluster (kubeadm's
commands of the same names), added to the launcher's typer app."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar
from urllib.parse import urlparse

import typer

from minik8s.api import bootstraptoken, errors, times
from minik8s.cli.bootstrap import join as joining
from minik8s.cli.bootstrap import tokens
from minik8s.cli.launcher.errors import LauncherError
from minik8s.cli.launcher.settings import HOME_ENV, default_home
from minik8s.client import ApiClient, ConfigError, load_kubeconfig

T = TypeVar("T")

token_app = typer.Typer(
    name="token", help="Bootstrap tokens for nodes joining the cluster.", no_args_is_help=True
)

KubeconfigOption = Annotated[
    Path | None,
    typer.Option(
        "--kubeconfig",
        help="Admin kubeconfig (default: $KUBECONFIG, else the cluster home's kubeconfig)",
        show_default=False,
    ),
]


def _kubeconfig(path: Path | None) -> Path:
    if path is not None:
        return path
    if os.environ.get("KUBECONFIG"):
        return Path(os.environ["KUBECONFIG"].split(os.pathsep)[0])
    return default_home().expanduser() / "kubeconfig"


def _client(path: Path | None) -> ApiClient:
    try:
        return ApiClient(load_kubeconfig(_kubeconfig(path)))
    except ConfigError as e:
        raise LauncherError(str(e)) from e


def _api_errors(e: errors.ApiError) -> LauncherError:
    return LauncherError(e.message)


def _call(kubeconfig: Path | None, call: Callable[[ApiClient], Awaitable[T]]) -> T:
    """Run `call` with a client of the admin kubeconfig; a bad token or an API error is one
    LauncherError line."""

    async def run() -> T:
        async with _client(kubeconfig) as client:
            return await call(client)

    try:
        return asyncio.run(run())
    except bootstraptoken.InvalidToken as e:
        raise LauncherError(str(e)) from e
    except errors.ApiError as e:
        raise _api_errors(e) from e


@token_app.command("create")
def token_create(
    token: Annotated[
        str | None, typer.Argument(help="The token to create (default: a random one)")
    ] = None,
    ttl: Annotated[
        str, typer.Option(help="Lifetime (Go duration); 0: it never expires")
    ] = "24h0m0s",
    description: Annotated[str, typer.Option(help="A human note on the token")] = "",
    print_join_command: Annotated[
        bool, typer.Option("--print-join-command", help="Print the whole `minik8s join` line")
    ] = False,
    kubeconfig: KubeconfigOption = None,
) -> None:
    """Create a bootstrap token (and, if missing, what joining nodes need: cluster-info and
    kubeadm's RBAC bindings); print it."""
    from minik8s.cli.launcher.app import _errors, out

    with _errors():
        try:
            seconds = times.parse_duration(ttl)
        except ValueError as e:
            raise LauncherError(str(e)) from e
        created = _call(
            kubeconfig, lambda client: tokens.create(client, seconds, description, token)
        )
        out.print(created.join_command if print_join_command else created.token, highlight=False)


@token_app.command("list")
def token_list(kubeconfig: KubeconfigOption = None) -> None:
    """List the bootstrap tokens (their secrets are not shown)."""
    from minik8s.cli.launcher.app import _errors

    with _errors():
        rows = _call(kubeconfig, tokens.list_tokens)
        header = ("TOKEN", "TTL", "EXPIRES", "USAGES", "DESCRIPTION", "EXTRA GROUPS")
        lines = [header, *((r.token, r.ttl, r.expires, r.usages, r.description, r.extra_groups)
                           for r in rows)]  # fmt: skip
        widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
        for line in lines:  # kubeadm's plain columns: never cut to the terminal's width
            cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
            sys.stdout.write("   ".join([*cells, line[-1]]) + "\n")


@token_app.command("delete")
def token_delete(
    token: Annotated[str, typer.Argument(help="The token, or its id")],
    kubeconfig: KubeconfigOption = None,
) -> None:
    """Delete a bootstrap token: nodes can no longer join with it."""
    from minik8s.cli.launcher.app import _errors, out

    with _errors():
        name = _call(kubeconfig, lambda client: tokens.delete(client, token))
        out.print(f"bootstrap token {name.removeprefix(bootstraptoken.SECRET_PREFIX)!r} deleted")


def _default_ip(endpoint: str) -> str:
    """The source address of this machine's route to the control plane (the kernel's routing
    table: `ip route get`, no packet is sent)."""
    host = urlparse(endpoint).hostname or "127.0.0.1"
    try:
        address = socket.gethostbyname(host)
        out = subprocess.run(
            ["ip", "-j", "route", "get", address], capture_output=True, text=True, check=True
        ).stdout
        return str(json.loads(out)[0].get("prefsrc") or "127.0.0.1")
    except (OSError, subprocess.CalledProcessError, ValueError, IndexError, KeyError) as e:
        raise LauncherError(
            f"cannot tell this node's IP towards {host} ({e}): use --node-ip"
        ) from e


def join(
    endpoint: Annotated[str, typer.Argument(help="The control plane: https://<lb>:6443")],
    token: Annotated[str, typer.Option(help="A bootstrap token <id>.<secret>")],
    discovery_token_ca_cert_hash: Annotated[
        list[str],
        typer.Option(help="sha256:<hex> of the cluster CA's public key (from `token create`)"),
    ],
    node_name: Annotated[str | None, typer.Option(help="Node name (default: hostname)")] = None,
    node_ip: Annotated[
        str | None, typer.Option(help="This node's IP (default: the address towards the LB)")
    ] = None,
    home: Annotated[
        Path | None,
        typer.Option(envvar=HOME_ENV, help="The node's files (default ~/.minik8s-node)"),
    ] = None,
    runtime: Annotated[str, typer.Option(help="docker, or fake (a hollow node)")] = "docker",
    kubelet_port: Annotated[int, typer.Option(help="The kubelet API's port")] = 10250,
    proxy: Annotated[bool, typer.Option(help="Run kube-proxy on this node")] = True,
    pod_network: Annotated[
        str,
        typer.Option(
            help="host-gw: route the other nodes' pod CIDRs via their IPs (flannel's backend; "
            "the nodes share an L2 segment); none: no pod routes"
        ),
    ] = joining.HOST_GW,
    start: Annotated[
        bool,
        typer.Option(help="Start the kubelet, kube-proxy and pod network (else write the files)"),
    ] = True,
    kubelet_arg: Annotated[
        list[str] | None,
        typer.Option(
            help="One more kubelet flag, e.g. --kubelet-arg=--node-status-update-frequency=2s "
            "(repeatable; k3s agent's --kubelet-arg)"
        ),
    ] = None,
    kube_proxy_arg: Annotated[
        list[str] | None,
        typer.Option(
            help="One more kube-proxy flag, e.g. --kube-proxy-arg=--cluster-cidr=10.245.0.0/16 "
            "(repeatable; k3s agent's --kube-proxy-arg)"
        ),
    ] = None,
) -> None:
    """Join this machine to a cluster as a node: discovery with the token and CA hash, TLS
    bootstrap of the kubelet, kube-proxy's certificate; then run them."""
    from minik8s.cli.launcher.app import _errors, out

    with _errors():
        if runtime not in ("docker", "fake"):
            raise LauncherError("--runtime must be docker or fake")
        if pod_network not in joining.POD_NETWORKS:
            raise LauncherError(f"--pod-network must be one of {', '.join(joining.POD_NETWORKS)}")
        options = joining.JoinOptions(
            endpoint=endpoint,
            token=token,
            ca_hashes=discovery_token_ca_cert_hash,
            node_name=node_name or socket.gethostname(),
            node_ip=node_ip or _default_ip(endpoint),
            home=(home or Path("~/.minik8s-node")).expanduser().resolve(),
            runtime=runtime,
            kubelet_port=kubelet_port,
            start=start,
            proxy=proxy,
            extra_kubelet_args=tuple(kubelet_arg or ()),
            extra_proxy_args=tuple(kube_proxy_arg or ()),
            pod_network=pod_network,
        )
        options.home.mkdir(parents=True, exist_ok=True)
        try:
            joining.join(options, out)
        except bootstraptoken.InvalidToken as e:
            raise LauncherError(str(e)) from e
        except errors.ApiError as e:
            raise _api_errors(e) from e
