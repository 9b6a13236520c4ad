"""HAProxy (Debian's `haproxy`) in front of three real HTTPS apiservers, configured by the
launcher's `loadbalancer.render`: TLS passes through (clients verify the apiservers' own
certificate), every apiserver's `/readyz` is checked over HTTPS against the cluster CA, a
killed apiserver is taken out and requests through the load balancer keep succeeding, and it
comes back when it does."""

from __future__ import annotations

import shutil
import signal
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from minik8s import pki
from minik8s.cli.launcher import loadbalancer
from tests.support.processes import Apiserver, Etcd, Process, free_port, temp_dir
from tests.support.waiting import wait_for

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
TOKEN = "lb-admin-token"

pytestmark = pytest.mark.skipif(not Path(HAPROXY).exists(), reason="haproxy not installed")


@dataclass
class Balanced:
    servers: list[Apiserver]
    url: str
    ca: Path
    stats: Path
    config: Path

    def states(self) -> dict[str, str]:
        found = loadbalancer.query_stats(self.stats) or []
        return {s.name: s.status for s in found}

    def get(self, path: str) -> httpx.Response:
        return httpx.get(
            self.url + path,
            headers={"Authorization": f"Bearer {TOKEN}"},
            verify=ssl.create_default_context(cafile=str(self.ca)),
            timeout=10,
        )


@pytest.fixture(scope="module")
def balanced() -> Iterator[Balanced]:
    work = temp_dir("minik8s-ha-lb-")
    etcd = Etcd(work / "etcd")
    shared = pki.ensure_serving_certificate(work / "pki")
    servers = []
    for i in range(3):
        # One CA and serving certificate for all three, as the launcher gives them.
        shutil.copytree(work / "pki", work / f"apiserver-{i}" / "pki")
        servers.append(
            Apiserver(
                etcd.url,
                work / f"apiserver-{i}",
                token=TOKEN,
                extra_args=["--authorization-mode=RBAC", "--advertise-address=192.0.2.10"],
            )
        )
    config = work / "haproxy.cfg"
    stats = work / "haproxy.sock"
    config.write_text(
        loadbalancer.render(
            loadbalancer.Settings(
                bind=("127.0.0.1", free_port()),
                servers=[(f"apiserver-{i}", "127.0.0.1", s.port) for i, s in enumerate(servers)],
                ca_file=shared.ca_cert,
                stats_socket=stats,
            )
        )
    )
    port = int(config.read_text().split("bind 127.0.0.1:")[1].split()[0])
    proxy = Process("haproxy", [HAPROXY, "-db", "-f", str(config)], work / "haproxy.log")
    try:
        etcd.start()
        for server in servers:
            server.start()
        proxy.start()
        yield Balanced(servers, f"https://127.0.0.1:{port}", shared.ca_cert, stats, config)
    finally:
        proxy.stop()
        for server in servers:
            server.stop()
        etcd.stop()
        shutil.rmtree(work, ignore_errors=True)


def test_the_rendered_configuration_is_valid(balanced: Balanced) -> None:
    checked = subprocess.run(
        [HAPROXY, "-c", "-f", str(balanced.config)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_killed_apiserver_is_taken_out_and_comes_back(balanced: Balanced) -> None:
    names = [f"apiserver-{i}" for i in range(3)]
    wait_for(
        lambda: balanced.states() == dict.fromkeys(names, "UP"),
        "HAProxy's /readyz checks to mark all three apiservers UP",
        timeout=30,
    )
    # TLS passes through: the client verifies the apiserver's certificate and is authenticated
    # by it; round robin spreads the requests.
    for _ in range(6):
        r = balanced.get("/api/v1/namespaces/default")
        assert r.status_code == 200, r.text

    victim = balanced.servers[1]
    victim.stop(signal.SIGKILL)
    wait_for(
        lambda: balanced.states().get("apiserver-1", "").startswith("DOWN"),
        "HAProxy to mark the killed apiserver DOWN",
        timeout=30,
    )
    # Once it is out, every request succeeds through the other two.
    codes = [balanced.get("/api/v1/namespaces/default").status_code for _ in range(12)]
    assert codes == [200] * 12, codes
    assert balanced.states()["apiserver-0"] == "UP"

    victim.start()
    wait_for(
        lambda: balanced.states().get("apiserver-1") == "UP",
        "the restarted apiserver to be UP again",
        timeout=30,
    )
