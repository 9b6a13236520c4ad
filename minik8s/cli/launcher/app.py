"""The `minik8s` command: `up`, `status`, `logs`, `down` of a local cluster."""

from __future__ import annotations

import contextlib
import sys
import time
import webbrowser
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from minik8s.api import times
from minik8s.cli.launcher import dashboard, lifecycle, nodecommands, restart_plan, supervisor
from minik8s.cli.launcher.errors import LauncherError
from minik8s.cli.launcher.settings import HOME_ENV, LauncherSettings, default_home
from minik8s.client.kubeconfig import ConfigError

app = typer.Typer(
    name="minik8s",
    help="Start, inspect and stop a local minik8s cluster (one process per component).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home",
        envvar=HOME_ENV,
        help="Directory of the cluster's files (default: ~/.minik8s)",
        show_default=False,
    ),
]


def _home(home: Path | None) -> Path:
    return (home or default_home()).expanduser().resolve()


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """Turn every expected failure into one line on stderr and exit 1."""
    try:
        yield
    except LauncherError as e:
        err.print(f"[red]error:[/] {escape(str(e))}", highlight=False)
        if e.details:
            err.print(e.details, markup=False, highlight=False)
        raise typer.Exit(1) from None
    except OSError as e:
        err.print(f"[red]error:[/] {escape(str(e))}", highlight=False)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(130) from None


@app.command()
def up(
    nodes: Annotated[
        int | None, typer.Option(help="Nodes with a real kubelet (default: remembered, else 1)")
    ] = None,
    fake_nodes: Annotated[
        int | None, typer.Option(help="Hollow nodes (fake runtime) (default: remembered, else 0)")
    ] = None,
    home: HomeOption = None,
    etcd_port: Annotated[
        int | None,
        typer.Option(
            envvar="MINIK8S_ETCD_PORT",
            help="etcd client port (default: remembered, else 2379 if free)",
        ),
    ] = None,
    etcd_peer_port: Annotated[
        int | None,
        typer.Option(
            envvar="MINIK8S_ETCD_PEER_PORT",
            help="etcd peer port (default: remembered, else 2380 if free)",
        ),
    ] = None,
    apiserver_port: Annotated[
        int | None,
        typer.Option(
            envvar="MINIK8S_APISERVER_PORT",
            help="apiserver port (default: remembered, else 6443 if free)",
        ),
    ] = None,
    dashboard_port: Annotated[
        int | None,
        typer.Option(
            envvar="MINIK8S_DASHBOARD_PORT",
            help="dashboard port (default: remembered, else 9090 if free)",
        ),
    ] = None,
    etcd_binary: Annotated[
        str, typer.Option(envvar="MINIK8S_ETCD_BINARY", help="etcd executable")
    ] = "etcd",
    control_plane: Annotated[
        int | None,
        typer.Option(
            help="Control-plane members: 1, or 3 (three etcd members and apiservers behind "
            "HAProxy; two leader-elected schedulers, controller-managers and cloud controllers) "
            "(default: remembered, else 1)"
        ),
    ] = None,
    control_plane_endpoint: Annotated[
        str | None,
        typer.Option(
            envvar="MINIK8S_CONTROL_PLANE_ENDPOINT",
            help="HOST[:PORT] where other machines reach the control plane (kubeadm's flag; "
            "HOST: an IPv4 address of this machine): the apiserver (HAProxy with "
            "--control-plane 3) listens there too, it is in the serving certificate, "
            "cluster-info and join commands name it, nodes get pod CIDRs; '' for none "
            "(default: remembered, else none: loopback only)",
        ),
    ] = None,
    dns_upstream: Annotated[
        str | None,
        typer.Option(
            envvar="MINIK8S_DNS_UPSTREAM",
            help="upstream resolvers of the cluster DNS: IP[:PORT],… or a resolv.conf path; "
            "'' for none (default: this host's /etc/resolv.conf)",
        ),
    ] = None,
    supervise: Annotated[
        bool,
        typer.Option(
            envvar=supervisor.DISABLE_ENV,
            help="Run `minik8s supervise`, which restarts a component that dies (the kubelet's "
            "CrashLoopBackOff); --no-supervise stops it: nothing restarts a dead component",
        ),
    ] = True,
) -> None:
    """Start the cluster's components that are not running yet, and write the kubeconfig."""
    with _errors():
        settings = LauncherSettings(
            home=_home(home),
            nodes=nodes,
            fake_nodes=fake_nodes,
            etcd_port=etcd_port,
            etcd_peer_port=etcd_peer_port,
            apiserver_port=apiserver_port,
            dashboard_port=dashboard_port,
            etcd_binary=etcd_binary,
            dns_upstream=dns_upstream,
            control_plane=control_plane,
            control_plane_endpoint=control_plane_endpoint,
        )
        lifecycle.up(settings, out, supervise)


@app.command()
def status(home: HomeOption = None) -> None:
    """Show each component's pid, whether it runs, its health, and the apiserver's version."""
    with _errors():
        settings = LauncherSettings(home=_home(home))
        rows, version = lifecycle.status(settings)
        table = Table(box=None, header_style="bold", pad_edge=False)
        columns = ["COMPONENT", "PID", "RUNNING", "HEALTHZ", "RESTARTS", "ENDPOINT"]
        with_roles = any(row.role for row in rows)
        for column in [*columns, "ROLE"] if with_roles else columns:
            table.add_column(column, no_wrap=True)
        for row in rows:
            health_style = {"ok": "green", "failing": "red"}.get(row.health, "dim")
            cells = [
                row.name,
                str(row.pid) if row.pid else "-",
                "[green]yes[/]" if row.running else "[dim]no[/]",
                f"[{health_style}]{escape(row.health)}[/]",
                row.restarts,
                row.endpoint,
            ]
            table.add_row(*cells, *([escape(row.role)] if with_roles else []))
        out.print(table)
        out.print(f"apiserver version: {escape(version)}", highlight=False)
        out.print(f"kubeconfig: {settings.kubeconfig_file}", highlight=False)


@app.command()
def logs(
    component: Annotated[str, typer.Argument(help="etcd, apiserver, kubelet-node-1, …")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines")] = False,
    tail: Annotated[int, typer.Option(help="Lines to show from the end; -1: all")] = -1,
    home: HomeOption = None,
) -> None:
    """Print a component's log (HOME/logs/<component>.log)."""
    with _errors():
        settings = LauncherSettings(home=_home(home))
        lifecycle.ensure_known_log(settings, component)
        path = settings.log_file(component)
        data = path.read_bytes()
        lines = data.splitlines(keepends=True)
        if tail >= 0:
            lines = lines[-tail:] if tail else []
        sys.stdout.buffer.write(b"".join(lines))
        sys.stdout.flush()
        if follow:
            with contextlib.suppress(KeyboardInterrupt):
                _follow(path, len(data), settings.poll_interval * 2)


def _follow(path: Path, position: int, interval: float) -> None:
    """Print what is appended to `path` until interrupted; start over if it is truncated."""
    while True:
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size < position:
            position = 0
        if size > position:
            with open(path, "rb") as f:
                f.seek(position)
                chunk = f.read(size - position)
            position += len(chunk)
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
        time.sleep(interval)


@app.command("dashboard")
def dashboard_command(
    url: Annotated[
        bool, typer.Option("--url", help="Print the URL only (do not open a browser)")
    ] = False,
    kubeconfig: Annotated[
        Path | None,
        typer.Option(help="Sign in as this kubeconfig's user (default: the cluster's admin)"),
    ] = None,
    home: HomeOption = None,
) -> None:
    """Print a one-time sign-in link to the dashboard (and open it), as `minikube dashboard`.

    The link works once, for two minutes; the browser then holds an HttpOnly session cookie
    and the code is spent. The dashboard acts with this kubeconfig user's credential.
    """
    with _errors():
        settings = LauncherSettings(home=_home(home))
        cluster = lifecycle.dashboard_state(settings)
        try:
            link = dashboard.login_url(settings, cluster, kubeconfig)
        except (ConfigError, ValueError) as e:
            raise LauncherError(str(e)) from e
        if not url:
            with contextlib.suppress(webbrowser.Error):
                webbrowser.open(link)
        out.print(link, highlight=False, soft_wrap=True)


@app.command()
def down(
    purge: Annotated[
        bool, typer.Option(help="Also remove etcd data, the token, the kubeconfig, cluster.json")
    ] = False,
    home: HomeOption = None,
) -> None:
    """Stop every component (SIGTERM, then SIGKILL if stuck), latest started first."""
    with _errors():
        lifecycle.down(LauncherSettings(home=_home(home)), out, purge)


@app.command("supervise")
def supervise_command(
    home: HomeOption = None,
    backoff: Annotated[
        str, typer.Option(help="Wait before the second restart of a component; doubles after")
    ] = "10s",
    max_backoff: Annotated[str, typer.Option(help="Longest wait between two restarts")] = "5m",
    interval: Annotated[str, typer.Option(help="How often every component is checked")] = "1s",
) -> None:
    """Restart the components `minik8s up` started when they die, until SIGTERM (`up` runs it
    in the background; `down` stops it first)."""
    with _errors():
        try:
            policy = restart_plan.Backoff(
                times.parse_duration(backoff), times.parse_duration(max_backoff)
            )
            every = times.parse_duration(interval)
        except ValueError as e:
            raise LauncherError(str(e)) from e
        supervisor.serve(LauncherSettings(home=_home(home)), policy, every)


app.add_typer(nodecommands.token_app)
app.command()(nodecommands.join)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
