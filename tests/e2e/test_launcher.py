"""`minik8s up/status/logs/down`: the real launcher run as a user runs it, on free ports.

Every test gets its own `MINIK8S_HOME` and its own etcd/apiserver ports (through
`MINIK8S_ETCD_PORT`, `MINIK8S_ETCD_PEER_PORT`, `MINIK8S_APISERVER_PORT`), so a developer's
cluster on 2379/6443 is never touched. Teardown always runs `minik8s down`, then kills and
reports any process the launcher left behind.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from minik8s.cli.launcher import components
from tests.support.launcher import Launcher, alive, make_launcher
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Launcher, str]]:
    """One cluster shared by the read-only tests; yields the launcher and `up`'s stdout."""
    launcher = make_launcher(tmp_path_factory.mktemp("minik8s-home"))
    try:
        yield launcher, launcher.up().stdout
    finally:
        launcher.teardown()


@pytest.fixture()
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    """A launcher of this test's own (for tests that stop or break the cluster)."""
    own = make_launcher(tmp_path / "home")
    try:
        yield own
    finally:
        own.teardown()


def test_up_starts_etcd_and_apiserver_and_writes_a_kubeconfig_kubectl_uses(
    cluster: tuple[Launcher, str],
) -> None:
    launcher, output = cluster
    pids = launcher.pids()
    assert {"etcd", "apiserver", "scheduler"} <= set(pids)
    assert all(alive(pid) for pid in pids.values()), pids
    assert f"export KUBECONFIG={launcher.kubeconfig}" in output
    assert (launcher.home / "logs" / "etcd.log").is_file()
    assert (launcher.home / "logs" / "apiserver.log").is_file()

    config = yaml.safe_load(launcher.kubeconfig.read_text())
    assert config["current-context"] == "minik8s"
    server = config["clusters"][0]["cluster"]["server"]
    assert server == f"https://127.0.0.1:{launcher.env['MINIK8S_APISERVER_PORT']}"
    assert config["users"][0]["name"] == "kubernetes-admin"
    assert config["users"][0]["user"]["client-certificate-data"]
    assert launcher.kubeconfig.stat().st_mode & 0o777 == 0o600

    result = launcher.kubectl("get", "ns", "-o", "name")
    assert result.returncode == 0, result.stderr
    assert "namespace/default" in result.stdout.split()


def test_etcd_accepts_only_the_apiservers_client_certificate(
    cluster: tuple[Launcher, str],
) -> None:
    """Issue 15: etcd serves TLS on its client port and refuses a client without a certificate
    of etcd's own CA; its keys are the owner's alone."""
    launcher, _ = cluster
    etcd = launcher.home / "pki" / "etcd"
    url = f"https://127.0.0.1:{launcher.env['MINIK8S_ETCD_PORT']}/version"
    context = ssl.create_default_context(cafile=str(etcd / "ca.crt"))
    with pytest.raises(httpx.HTTPError):  # TLS handshake: certificate required
        httpx.get(url, verify=context, timeout=5)
    with pytest.raises(httpx.HTTPError):  # plain HTTP on the TLS port
        httpx.get(url.replace("https", "http"), timeout=5)
    serving = ssl.create_default_context(cafile=str(launcher.home / "pki" / "ca.crt"))
    serving.check_hostname = False
    serving.load_cert_chain(
        str(launcher.home / "pki" / "apiserver.crt"), str(launcher.home / "pki" / "apiserver.key")
    )
    with pytest.raises(httpx.HTTPError):  # a certificate of the cluster's CA is not enough
        httpx.get(url, verify=serving, timeout=5)
    context.load_cert_chain(
        str(etcd / "apiserver-etcd-client.crt"), str(etcd / "apiserver-etcd-client.key")
    )
    assert httpx.get(url, verify=context, timeout=5).status_code == 200
    modes = {p.name: p.stat().st_mode & 0o777 for p in etcd.iterdir()}
    assert set(modes.values()) == {0o600}, modes


def test_each_component_runs_as_itself_and_the_kubelet_refuses_strangers(
    cluster: tuple[Launcher, str],
) -> None:
    """Own certificate per component (files 0600, no admin credential among them); the
    kubelet's API is HTTPS and answers 401 without a credential, while `kubectl logs` and
    `kubectl exec` reach it through the apiserver's kubelet client certificate."""
    launcher, _ = cluster
    users = {}
    for conf in sorted((launcher.home / "kubeconfigs").glob("*.conf")):
        assert conf.stat().st_mode & 0o777 == 0o600, conf
        users[conf.stem] = yaml.safe_load(conf.read_text())["users"][0]["name"]
    assert users == {
        "cloud-controller-manager": "system:cloud-controller-manager",
        "controller-manager": "system:kube-controller-manager",
        "metrics-server": "system:metrics-server",
        "dashboard": "system:kube-dashboard",
        "dns": "system:kube-dns",
        "kubelet-node-1": "system:node:node-1",
        "proxy": "system:kube-proxy",
        "scheduler": "system:kube-scheduler",
    }
    for key in (launcher.home / "pki").glob("*.key"):
        assert key.stat().st_mode & 0o777 == 0o600, key
    node = json.loads(launcher.kubectl("get", "node", "node-1", "-o", "json").stdout)
    port = node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
    context = ssl.create_default_context(cafile=str(launcher.home / "pki" / "ca.crt"))
    for path in ("/containerLogs/default/x/x", "/exec/default/x/x?command=id", "/pods"):
        refused = httpx.get(f"https://127.0.0.1:{port}{path}", verify=context, timeout=5)
        assert refused.status_code == 401, (path, refused.text)
    proxied = launcher.kubectl("get", "--raw", "/api/v1/nodes/node-1/proxy/healthz")
    assert (proxied.returncode, proxied.stdout) == (0, "ok"), proxied
    node_conf = str(launcher.home / "kubeconfigs" / "kubelet-node-1.conf")
    as_node = launcher.kubectl("--kubeconfig", node_conf, "get", "pods", "-A")
    assert as_node.returncode != 0 and "spec.nodeName field selector" in as_node.stderr

    pod = launcher.kubectl(
        "run", "authz-e2e", "--image=minik8s/busybox", "--image-pull-policy=Never",
        "--", "sh", "-c", "echo hello-from-the-pod; sleep 3600",
    )  # fmt: skip
    assert pod.returncode == 0, pod.stderr
    try:
        wait_for(
            lambda: "hello-from-the-pod" in launcher.kubectl("logs", "authz-e2e").stdout,
            "kubectl logs through the authenticated kubelet",
            timeout=60,
        )
        exec_result = launcher.kubectl("exec", "authz-e2e", "--", "cat", "/etc/hostname")
        assert exec_result.returncode == 0 and "authz-e2e" in exec_result.stdout, exec_result
    finally:
        launcher.kubectl("delete", "pod", "authz-e2e", "--grace-period=0", "--wait=false")


def test_the_apiserver_audits_every_request_at_metadata_level(
    cluster: tuple[Launcher, str],
) -> None:
    launcher, _ = cluster
    policy = yaml.safe_load((launcher.home / "audit-policy.yaml").read_text())
    assert policy["rules"][-1] == {"level": "Metadata"}
    log = launcher.home / "logs" / "audit.log"
    assert log.stat().st_mode & 0o777 == 0o600
    probe = f"audit-probe-{os.getpid()}"
    result = launcher.kubectl("get", "configmap", probe)
    assert result.returncode == 1 and "NotFound" in result.stderr

    def events() -> list[dict]:
        return [json.loads(line) for line in log.read_text().splitlines()]

    def of_probe() -> list[dict]:
        return [e for e in events() if (e.get("objectRef") or {}).get("name") == probe]

    (event,) = wait_for(of_probe, "the audit event of kubectl's get")
    assert event["stage"] == "ResponseComplete"  # the policy omits RequestReceived
    assert event["level"] == "Metadata" and event["verb"] == "get"
    assert event["user"]["username"] == "kubernetes-admin"
    assert event["userAgent"].startswith("kubectl")
    assert event["responseStatus"]["code"] == 404
    assert "requestObject" not in event and "responseObject" not in event
    # every component is audited as itself (the kubelet renews its Lease every few seconds)
    wait_for(
        lambda: any(e["user"]["username"] == "system:node:node-1" for e in events()),
        "an audit event of node-1's kubelet",
        timeout=30,
    )


def test_second_up_starts_nothing(cluster: tuple[Launcher, str]) -> None:
    launcher, _ = cluster
    before = launcher.pids()
    credential = (launcher.home / "pki" / "admin.crt").read_text()
    result = launcher.up()
    assert launcher.pids() == before
    assert (launcher.home / "pki" / "admin.crt").read_text() == credential, "made once"
    assert "supervise" in before, "up starts the supervisor"
    for name, pid in before.items():
        assert f"{name} already running (pid {pid}" in result.stdout
    assert "started " not in result.stdout.replace("not started yet", "")


def test_status_shows_each_component_running_and_the_server_version(
    cluster: tuple[Launcher, str],
) -> None:
    launcher, _ = cluster
    result = launcher.run("status")
    assert result.returncode == 0, result.stderr
    rows: dict[str, list[str]] = {}
    for line in result.stdout.splitlines():
        if line.strip():
            rows.setdefault(line.split()[0], line.split())  # the table comes first
    for name, pid in launcher.pids().items():
        assert rows[name][1:3] == [str(pid), "yes"], result.stdout
        assert rows[name][3] in ("ok", "-"), result.stdout  # "-": serves no health URL it knows
    for component in components.disabled():
        assert rows[component.name][1:3] == ["-", "no"], "disabled ones are listed, not running"
    assert "apiserver version: v1." in result.stdout


def test_logs_prints_a_components_log(cluster: tuple[Launcher, str]) -> None:
    launcher, _ = cluster
    result = launcher.run("logs", "apiserver", "--tail", "3")
    assert result.returncode == 0, result.stderr
    assert 0 < len(result.stdout.splitlines()) <= 3

    unknown = launcher.run("logs", "no-such-component")
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("error: no log for 'no-such-component'")
    assert len(unknown.stderr.strip().splitlines()) == 1, unknown.stderr


def test_the_supervisor_restarts_killed_components_and_backs_off_a_crashing_one(
    cluster: tuple[Launcher, str],
) -> None:
    """Issues 22 and 23: what dies is started again (as systemd and the kubelet do in kubeadm
    clusters), counted in `status`; one that keeps crashing waits longer and longer."""
    launcher, _ = cluster
    victims = ("scheduler", "controller-manager", "dns")
    old = launcher.pids()
    for name in victims:
        os.killpg(old[name], signal.SIGKILL)

    def back() -> dict[str, int] | None:
        pids = launcher.pids()
        ok = all(pids.get(n, old[n]) != old[n] and alive(pids[n]) for n in victims)
        return pids if ok else None

    new = wait_for(back, f"the supervisor to start {', '.join(victims)} again", timeout=30)
    assert new["supervise"] == old["supervise"]
    log = (launcher.home / "logs" / "supervise.log").read_text()
    for name in victims:
        assert f"{name} exited (status unknown" in log and "restarting it (restart 1)" in log
    rows = wait_for(lambda: _status_rows(launcher, "dns", "ok"), "the restarted dns healthy")
    for name in victims:
        assert rows[name][1:3] == [str(new[name]), "yes"], rows[name]
        assert rows[name][4] == "1", rows[name]  # RESTARTS 1 (3s ago)

    # a flag the metrics server refuses: `up` fails, the supervisor keeps the new command line
    # and restarts it at once, then backs off (10 s) as the kubelet's CrashLoopBackOff
    broken = {**launcher.env, "MINIK8S_EXTRA_ARGS_METRICS_SERVER": "--no-such-flag"}
    failed = launcher.run("up", env=broken)
    assert failed.returncode == 1, failed.stdout
    assert "metrics-server exited while starting" in failed.stderr, failed.stderr
    rows = wait_for(
        lambda: _status_rows(launcher, "metrics-server", "CrashLoopBackOff"),
        "the metrics server in CrashLoopBackOff",
        timeout=30,
    )
    assert rows["metrics-server"][2:5] == ["no", "CrashLoopBackOff", "1"], rows["metrics-server"]
    log = (launcher.home / "logs" / "supervise.log").read_text()
    assert "metrics-server exited with code 2; back-off 10s before restarting it" in log, log
    fixed = launcher.up()
    assert "started metrics-server" in fixed.stdout, fixed.stdout
    assert alive(launcher.pids()["metrics-server"])


def _status_rows(launcher: Launcher, name: str, health: str) -> dict[str, list[str]] | None:
    """`minik8s status`'s rows by component, once `name`'s HEALTHZ is `health`."""
    result = launcher.run("status")
    assert result.returncode == 0, result.stderr
    rows: dict[str, list[str]] = {}
    for line in result.stdout.splitlines()[1:]:
        if line.strip():
            rows.setdefault(line.split()[0], line.split())  # the table comes first
    return rows if rows.get(name, [""] * 4)[3] == health else None


def test_down_stops_everything_and_purge_forgets_the_cluster(launcher: Launcher) -> None:
    launcher.up()
    pids = launcher.pids()

    result = launcher.run("down")
    assert result.returncode == 0, result.stderr
    assert result.stdout.index("supervise") < result.stdout.index("etcd"), "stopped first"
    assert not launcher.strays(), "a process still names the home"
    for name, pid in pids.items():
        wait_for(lambda pid=pid: not alive(pid), f"{name} (pid {pid}) to be gone", timeout=5)
    assert launcher.pids() == {}

    again = launcher.run("down", "--purge")
    assert again.returncode == 0, again.stderr
    assert "nothing is running" in again.stdout
    for gone in ("etcd", "pki", "kubeconfigs", "kubeconfig", "cluster.json"):
        assert not (launcher.home / gone).exists(), gone


def test_stale_pid_file_is_cleaned_up_and_the_component_restarted(launcher: Launcher) -> None:
    """Without the supervisor (`--no-supervise`, today's behaviour), `up` starts what died."""
    first = launcher.up("--nodes", "2", "--fake-nodes", "1", "--no-supervise")
    assert "supervise" not in launcher.pids()
    for kubelet in ("kubelet-node-1", "kubelet-node-2", "kubelet-fake-node-1"):
        assert f"started {kubelet}" in first.stdout, first.stdout
    state = json.loads((launcher.home / "cluster.json").read_text())
    assert (state["nodes"], state["fake_nodes"]) == (2, 1)
    old = launcher.pids()
    os.killpg(old["apiserver"], signal.SIGKILL)
    wait_for(lambda: not alive(old["apiserver"]), "the killed apiserver to be gone", timeout=10)

    result = launcher.up("--no-supervise")
    new = launcher.pids()
    assert new["etcd"] == old["etcd"]
    assert new["apiserver"] != old["apiserver"]
    assert f"started apiserver (pid {new['apiserver']})" in result.stdout
    assert launcher.kubectl("get", "ns").returncode == 0


def test_a_taken_port_is_replaced_by_a_free_one_and_remembered(launcher: Launcher) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        launcher.home.mkdir(parents=True)
        (launcher.home / "cluster.json").write_text(json.dumps({"apiserver_port": taken}))
        env = {k: v for k, v in launcher.env.items() if k != "MINIK8S_APISERVER_PORT"}

        result = launcher.run("up", env=env)
        assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
        assert f"apiserver port {taken} is taken by another process" in result.stdout
        port = json.loads((launcher.home / "cluster.json").read_text())["apiserver_port"]
        assert port != taken
        assert f"https://127.0.0.1:{port}" in launcher.kubeconfig.read_text()
        assert launcher.kubectl("get", "ns").returncode == 0


def test_errors_are_one_line_on_stderr(tmp_path: Path) -> None:
    launcher = make_launcher(tmp_path / "home")
    env = {**launcher.env, "MINIK8S_ETCD_BINARY": str(tmp_path / "no-etcd-here")}
    result = launcher.run("up", env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("error: etcd not found"), result.stderr
    assert "run `make setup`" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert launcher.pids() == {}
