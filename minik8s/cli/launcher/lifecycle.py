"""What `up`, `down` and `status` do, over the component table and the process helpers.

Output goes to the console given; failures raise `LauncherError`.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import timedelta

from rich.console import Console

from minik8s.api import times
from minik8s.cli.launcher import (
    addons,
    apirequests,
    audit,
    components,
    controlplane,
    dashboard,
    docker,
    encryption,
    identities,
    pki,
    pods,
    processes,
    state,
    supervisor,
)
from minik8s.cli.launcher.components import Instance, PerNode
from minik8s.cli.launcher.errors import LauncherError
from minik8s.cli.launcher.settings import LauncherSettings


def _running_singletons(settings: LauncherSettings) -> set[str]:
    """Names of the once-per-cluster components of ours that run now (any member of them; the
    load balancer holds the apiserver's endpoint port)."""
    running = set()
    for c in components.COMPONENTS:
        if c.per_node not in (PerNode.NO, *components.REPLICATED):
            continue
        names = [c.name, *(f"{c.name}-{i}" for i in range(1, 4))]
        if any(processes.find(settings, name) is not None for name in names):
            running.add("apiserver" if c.name == "loadbalancer" else c.name)
    return running


def _has_data(settings: LauncherSettings) -> bool:
    """True if etcd holds a cluster already (one member's data, or several members')."""
    return any(
        path.is_dir() and any(path.iterdir())
        for path in (settings.etcd_data_dir, settings.etcd_member_data_dir(1))
    )


def up(settings: LauncherSettings, console: Console, supervise: bool = True) -> state.ClusterState:
    """Start every enabled component that does not run yet, in order, each waited for; then
    the supervisor that restarts them when they die (`supervise`), else stop it."""
    components.etcd_binary(settings)
    for directory in (settings.home, settings.logs_dir, settings.run_dir):
        directory.mkdir(parents=True, exist_ok=True)
    remembered = state.load(settings.state_file)
    cluster, notes = state.resolve(
        settings, remembered, _running_singletons(settings), _has_data(settings)
    )
    for note in notes:
        console.print(f"[yellow]note:[/] {note}")
    endpoint_hosts = () if cluster.endpoint is None else (cluster.endpoint[0],)
    keys = pki.Pki(settings.pki_dir)
    before = keys.serving_cert.read_bytes() if keys.serving_cert.exists() else b""
    pki.ensure(settings.pki_dir, *endpoint_hosts)
    pki.ensure_etcd(settings.pki_dir, peers=cluster.highly_available)
    encryption.ensure_config(settings.encryption_config_file)
    audit.ensure_policy(settings.audit_policy_file)
    dashboard.ensure_files(settings, cluster)
    state.save(settings.state_file, cluster)
    if before and keys.serving_cert.read_bytes() != before:
        _restart_for(settings, "apiserver", "its serving certificate names a new host", console)
    if cluster.highly_available and components.write_loadbalancer_config(settings, cluster):
        _restart_for(settings, "loadbalancer", "its configuration changed", console)
    identities.ensure_admin(settings, cluster.apiserver_url)
    identities.ensure_kubelet_client(settings)
    components.ensure_credentials(settings, cluster)

    if cluster.nodes > 0:
        docker.ensure_engine(settings, console)
        docker.ensure_images(settings, console)
    with supervisor.start_lock(settings):
        planned = components.instances(settings, cluster)
        # written first: a supervisor already running keeps what this `up` asks for, even
        # when one of them fails to start now (it restarts it with its back-off)
        supervisor.write_spec(settings, planned)
        _start_all(settings, cluster, planned, console)
        if supervise:
            _ensure(settings, supervisor.instance(settings), console)
        else:
            _stop_supervisor(settings, console)
    what = addons.publish_cluster_info(settings, cluster)
    if what:
        console.print(f"[green]✓[/] cluster-info names {cluster.join_url} ({what})")
    _wait_nodes_ready(settings, cluster, console)

    _note_disabled(cluster, console)
    console.print(f"[green]minik8s is up[/]: apiserver {cluster.apiserver_url}")
    console.print("Use it with:")
    console.print(f"  export KUBECONFIG={settings.kubeconfig_file}", highlight=False)
    console.print("  kubectl get ns", highlight=False)
    console.print("  minik8s dashboard   # a one-time sign-in link to the web UI", highlight=False)
    return cluster


def _start_all(
    settings: LauncherSettings,
    cluster: state.ClusterState,
    planned: list[Instance],
    console: Console,
) -> None:
    """Every planned process, in order, each waited for; members that must start together
    (etcd's: /health answers once a quorum runs) are all started before the first wait."""
    started: dict[str, subprocess.Popen[bytes]] = {}
    for index, instance in enumerate(planned):
        if instance.together and (index == 0 or not planned[index - 1].together):
            for member in planned[index:]:
                if not member.together:
                    break
                if processes.find(settings, member.name) is None:
                    started[member.name] = processes.start(settings, member)
        if instance.name in started:
            _wait_started(settings, instance, started.pop(instance.name), console)
        else:
            _ensure(settings, instance, console)
        if instance.name == "dns":
            what = addons.ensure_dns(settings, cluster)
            console.print(f"[green]✓[/] kube-dns Service ({what})", highlight=False)


def _restart_for(settings: LauncherSettings, component: str, why: str, console: Console) -> None:
    """Stop the running processes of `component` (every member) so that `up` starts them
    again with what changed on disk."""
    names = [component, *(f"{component}-{i}" for i in range(1, 4))]
    for name in names:
        running = processes.find(settings, name)
        if running is not None:
            console.print(f"{name}: {why}, restarting (pid {running.pid})")
            processes.stop(settings, running)


def _wait_nodes_ready(
    settings: LauncherSettings, cluster: state.ClusterState, console: Console
) -> None:
    """Return once every node of the cluster reports Ready (and the cloud controller has
    initialized it); name the late ones otherwise."""
    names = [
        *components.node_names(cluster, PerNode.REAL),
        *components.node_names(cluster, PerNode.FAKE),
    ]
    if not names or not any(c.enabled and c.name == "kubelet" for c in components.COMPONENTS):
        return
    started = time.monotonic()
    deadline = started + settings.nodes_ready_timeout
    with console.status(f"waiting for {len(names)} node(s) to be Ready…"):
        while len(ready := pods.nodes_ready(settings, names)) < len(names):
            if time.monotonic() > deadline:
                late = ", ".join(n for n in names if n not in ready)
                raise LauncherError(
                    f"node(s) not Ready after {settings.nodes_ready_timeout:.0f}s: {late} "
                    f"(see {settings.logs_dir}/kubelet-<node>.log)"
                )
            time.sleep(0.5)
    console.print(
        f"[green]✓[/] {len(names)} node(s) Ready in {time.monotonic() - started:.1f}s",
        highlight=False,
    )


def _ensure(settings: LauncherSettings, instance: Instance, console: Console) -> None:
    """Leave `instance` running and ready: reuse it when it runs with the same flags."""
    running = processes.find(settings, instance.name)
    if running is not None and not processes.same_command(running, instance):
        console.print(f"{instance.name}: flags changed, restarting (pid {running.pid})")
        processes.stop(settings, running)
        running = None
    if running is not None:
        pid = running.pid
        if instance.health_url and not processes.probe(
            instance.health_url, settings.probe_timeout, instance.ca_file, instance.client_cert
        ):
            with console.status(f"waiting for {instance.name} (pid {pid}) to be ready…"):
                processes.wait_ready(settings, instance, lambda: processes.pid_alive(pid))
        console.print(f"[green]✓[/] {instance.name} already running (pid {pid}, healthy)")
        return
    _wait_started(settings, instance, processes.start(settings, instance), console)


def _wait_started(
    settings: LauncherSettings,
    instance: Instance,
    popen: subprocess.Popen[bytes],
    console: Console,
) -> None:
    """Wait for a process just started to be ready (stop it if it is not)."""
    try:
        with console.status(f"waiting for {instance.name} (pid {popen.pid}) to be ready…"):
            seconds = processes.wait_ready(settings, instance, lambda: popen.poll() is None)
    except BaseException:
        processes.stop_child(settings, instance.name, popen)
        raise
    console.print(
        f"[green]✓[/] started {instance.name} (pid {popen.pid}), ready in {seconds:.1f}s",
        highlight=False,
    )


def _note_disabled(cluster: state.ClusterState, console: Console) -> None:
    later = components.disabled()
    kubelet = next((c for c in later if c.name == "kubelet"), None)
    if kubelet is not None and cluster.nodes + cluster.fake_nodes > 0:
        console.print(
            f"[yellow]note:[/] kubelets arrive with issue {kubelet.issue}: "
            f"{cluster.nodes} node(s) and {cluster.fake_nodes} hollow node(s) are remembered "
            "but not started yet"
        )
    others = sorted({f"{c.name} (issue {c.issue})" for c in later if c.name != "kubelet"})
    if others:
        console.print(f"[dim]not started yet: {', '.join(others)}[/]")


def _stop_supervisor(settings: LauncherSettings, console: Console) -> bool:
    """Stop the supervisor if it runs; True if it did."""
    running = processes.find(settings, supervisor.NAME)
    if running is None:
        return False
    how = processes.stop(settings, running)
    console.print(f"[green]✓[/] {how} {supervisor.NAME} (pid {running.pid})", highlight=False)
    return True


def down(settings: LauncherSettings, console: Console, purge: bool) -> None:
    """Stop the supervisor first (nothing is restarted during teardown), then every process of
    ours, latest-started first; with `purge`, forget the cluster."""
    stopped = int(_stop_supervisor(settings, console))
    with supervisor.start_lock(settings):
        _stop_all(settings, console, stopped)
        for path in (supervisor.spec_file(settings), supervisor.restarts_file(settings)):
            path.unlink(missing_ok=True)
    if purge:
        _purge(settings, console)


def _stop_all(settings: LauncherSettings, console: Console, stopped: int) -> None:
    names = sorted(processes.recorded_names(settings), key=components.stop_rank)
    uid = pods.cluster_id(settings)  # asked while the apiserver still runs
    for name in names:
        running = processes.find(settings, name)
        if running is None:
            console.print(f"{name}: not running (removed its stale pid file)")
            continue
        with console.status(f"stopping {name} (pid {running.pid})…"):
            how = processes.stop(settings, running)
        console.print(f"[green]✓[/] {how} {name} (pid {running.pid})", highlight=False)
        stopped += 1
    if uid is not None:
        removed = pods.remove_containers(uid)
        if removed:
            console.print(f"[green]✓[/] removed {removed} pod container(s)")
    unmounted = pods.unmount_volumes(settings.kubelet_root_dir)
    if unmounted:
        console.print(f"[green]✓[/] unmounted {unmounted} pod volume(s)")
    for argv in components.cleanups(settings, state.load(settings.state_file)):
        processes.run_cleanup(argv, settings)
    if stopped == 0:
        console.print("nothing is running")


def _purge(settings: LauncherSettings, console: Console) -> None:
    removed = []
    storage = settings.home / "storage"
    kubeconfigs = settings.home / "kubeconfigs"
    for path in (
        settings.etcd_data_dir,
        *(settings.etcd_member_data_dir(i) for i in range(1, 4)),
        settings.pki_dir,
        settings.kubelet_root_dir,
        storage,
        kubeconfigs,
        settings.dashboard_dir,
    ):
        if path == settings.kubelet_root_dir and pods.still_mounted(path):
            console.print(f"[yellow]![/] kept {path}: still mounted below it: "
                          f"{', '.join(map(str, pods.still_mounted(path)))}")  # fmt: skip
            continue
        if path.exists():
            shutil.rmtree(path)
            removed.append(path.name)
    for path in (
        settings.tokens_file,
        settings.kubeconfig_file,
        settings.state_file,
        settings.encryption_config_file,
        settings.audit_policy_file,
        settings.loadbalancer_config,
    ):
        if path.exists():
            path.unlink()
            removed.append(path.name)
    what = ", ".join(removed) if removed else "nothing left to remove"
    console.print(f"purged {settings.home}: {what}", highlight=False)


@dataclass(frozen=True)
class Row:
    """One line of `minik8s status`."""

    name: str
    pid: int | None
    running: bool
    health: str
    """"ok", "failing", "-" (no health URL or not running) or why it is not started."""
    endpoint: str
    role: str = ""
    """With several control-plane members: `leader`/`follower` (etcd), the load balancer's
    view of an apiserver (`lb: UP`), `leader`/`standby` (leader-elected components)."""
    restarts: str = "0"
    """Restarts by the supervisor, with the age of the last (`2 (5m3s ago)`, as kubectl's)."""


def dashboard_state(settings: LauncherSettings) -> state.ClusterState:
    """The cluster's state, once its dashboard runs (else one clear error)."""
    cluster = state.load(settings.state_file)
    if cluster is None or processes.find(settings, "dashboard") is None:
        raise LauncherError("the dashboard is not running: run `minik8s up` first")
    return cluster


def status(settings: LauncherSettings) -> tuple[list[Row], str]:
    """The status of every component, and the apiserver's gitVersion (or why it is unknown)."""
    cluster = state.load(settings.state_file) or state.ClusterState()
    planned = components.instances(settings, cluster)
    restarts = supervisor.load_restarts(settings)
    rows: list[Row] = []
    for instance in planned:
        running = processes.find(settings, instance.name)
        health = "-"
        if running is not None and instance.health_url:
            ok = processes.probe(
                instance.health_url, settings.probe_timeout, instance.ca_file, instance.client_cert
            )
            health = "ok" if ok else "failing"
        restarted = restarts.get(instance.name, supervisor.Restarts())
        if running is None and (restarted.backoff_until or 0) > time.time():
            health = "CrashLoopBackOff"  # the kubelet's reason for a container in back-off
        endpoint = instance.health_url.rsplit("/", 1)[0] if instance.health_url else ""
        rows.append(
            Row(
                instance.name,
                running.pid if running else None,
                running is not None,
                health,
                endpoint,
                restarts=_restarts(restarted),
            )
        )
    known = {i.name for i in planned}
    for name in processes.recorded_names(settings):
        if name not in known and (running := processes.find(settings, name)) is not None:
            rows.append(Row(name, running.pid, True, "-", ""))
    for component in components.disabled():
        if component.name not in {r.name for r in rows}:
            rows.append(Row(component.name, None, False, f"not yet (issue {component.issue})", ""))
    if not any(row.name.startswith("apiserver") and row.running for row in rows):
        return rows, "- (the apiserver is not running: `minik8s up` starts it)"
    found = controlplane.roles(settings, cluster)
    rows = [dataclasses.replace(row, role=found.get(row.name, "")) for row in rows]
    return rows, _version(settings)


def _restarts(restarts: supervisor.Restarts) -> str:
    """kubectl's RESTARTS cell: the count, and how long ago the last one was."""
    if not restarts.count or restarts.last_restart is None:
        return str(restarts.count)
    ago = times.human_duration(timedelta(seconds=time.time() - restarts.last_restart))
    return f"{restarts.count} ({ago} ago)"


def _version(settings: LauncherSettings) -> str:
    version = apirequests.api_get(settings, "/version")
    return "unreachable" if version is None else str(version.get("gitVersion", "?"))


def ensure_known_log(settings: LauncherSettings, name: str) -> None:
    """Raise a one-line error naming the known logs when `name` has none."""
    if settings.log_file(name).is_file():
        return
    known = (
        sorted(p.stem for p in settings.logs_dir.glob("*.log"))
        if settings.logs_dir.is_dir()
        else []
    )
    hint = f"known: {', '.join(known)}" if known else f"no logs in {settings.logs_dir} yet"
    raise LauncherError(f"no log for {name!r} ({hint})")
