"""The shape `minik8s up --control-plane 3` gives a cluster (pure: no process is started)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from minik8s.cli.launcher import components, pki, state
from minik8s.cli.launcher.errors import LauncherError
from minik8s.cli.launcher.settings import LauncherSettings


def _resolve(tmp_path: Path, **kwargs: object) -> state.ClusterState:
    settings = LauncherSettings(home=tmp_path, **kwargs)  # type: ignore[arg-type]
    cluster, _ = state.resolve(settings, None, ())
    return cluster


def _flag(argv: list[str], name: str) -> str:
    (value,) = [arg.split("=", 1)[1] for arg in argv if arg.startswith(f"--{name}=")]
    return value


def test_three_members_get_ports_of_their_own_remembered_across_runs(tmp_path: Path) -> None:
    cluster = _resolve(tmp_path, control_plane=3)
    assert cluster.highly_available and len(cluster.apiserver_ports) == 3
    assert len(cluster.etcd_members) == 3
    ports = [cluster.apiserver_port, *cluster.apiserver_ports]
    ports += [port for _, client, peer in cluster.etcd_members for port in (client, peer)]
    assert len(set(ports)) == len(ports), "every port is distinct"
    state.save(tmp_path / "cluster.json", cluster)
    assert state.load(tmp_path / "cluster.json") == cluster
    again, _ = state.resolve(LauncherSettings(home=tmp_path), cluster, ())
    assert again == cluster, "the remembered shape and ports are kept"


def test_the_number_of_members_changes_only_on_a_new_cluster(tmp_path: Path) -> None:
    with pytest.raises(LauncherError, match="1 or 3"):
        _resolve(tmp_path, control_plane=2)
    one = _resolve(tmp_path)
    with pytest.raises(LauncherError, match="down --purge"):
        state.resolve(LauncherSettings(home=tmp_path, control_plane=3), one, (), has_data=True)
    (tmp_path / "cluster.json").write_text(json.dumps({"apiserver_ports": [1, "x"]}))
    with pytest.raises(LauncherError, match="not a minik8s cluster state"):
        state.load(tmp_path / "cluster.json")


def test_one_member_keeps_the_single_layout(tmp_path: Path) -> None:
    settings = LauncherSettings(home=tmp_path)
    names = [i.name for i in components.instances(settings, _resolve(tmp_path))]
    assert names[:3] == ["etcd", "apiserver", "scheduler"]
    assert "loadbalancer" not in names and not any(n.startswith("etcd-") for n in names)


def test_three_members_behind_haproxy_and_standbys_elected_quickly(tmp_path: Path) -> None:
    settings = LauncherSettings(home=tmp_path)
    cluster = _resolve(tmp_path, control_plane=3)
    planned = {i.name: i for i in components.instances(settings, cluster)}
    for name in ("etcd", "apiserver", "scheduler", "controller-manager"):
        assert name not in planned
    assert all(planned[f"etcd-{i}"].together for i in (1, 2, 3))

    etcd = planned["etcd-2"].argv
    assert _flag(etcd, "name") == "etcd-2"
    members = _flag(etcd, "initial-cluster").split(",")
    assert [m.split("=")[0] for m in members] == ["etcd-1", "etcd-2", "etcd-3"]
    assert all("=https://127.0.0.1:" in m for m in members), "peers talk TLS"
    assert "--peer-client-cert-auth" in etcd
    assert _flag(etcd, "data-dir") == str(tmp_path / "etcd-2")

    servers = _flag(planned["apiserver-2"].argv, "etcd-servers").split(",")
    assert servers[0] == cluster.etcd_client_url(2) and len(servers) == 3, "its own member first"
    assert _flag(planned["apiserver-2"].argv, "port") == str(cluster.apiserver_ports[1])
    assert planned["apiserver-2"].health_url == (
        f"https://127.0.0.1:{cluster.apiserver_ports[1]}/readyz"
    )
    assert planned["loadbalancer"].health_url == f"{cluster.apiserver_url}/readyz"

    for component in ("scheduler", "controller-manager", "cloud-controller-manager"):
        one, two = planned[f"{component}-1"].argv, planned[f"{component}-2"].argv
        assert one == two, "replicas share one identity and one command line"
        assert _flag(one, "leader-elect-lease-duration") == "4s"
        assert not any(arg.startswith("--node-name") for arg in one)
    rank = components.stop_rank  # `down` stops the lowest first
    assert rank("scheduler-1") < rank("loadbalancer") < rank("apiserver-1") < rank("etcd-3")


def test_etcd_members_get_a_peer_certificate_of_etcds_own_ca(tmp_path: Path) -> None:
    certs = pki.ensure_etcd(tmp_path, peers=True)
    peer = x509.load_pem_x509_certificate(certs.peer_cert.read_bytes())
    ca = x509.load_pem_x509_certificate(certs.ca_cert.read_bytes())
    peer.verify_directly_issued_by(ca)
    usages = peer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usages) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert certs.peer_key.stat().st_mode & 0o777 == 0o600
    before = certs.peer_cert.read_bytes()
    pki.ensure_etcd(tmp_path, peers=True)
    assert certs.peer_cert.read_bytes() == before, "made once"


def test_node_ports_listen_on_loopback_only(tmp_path: Path) -> None:
    """Issue 17: in `minik8s up` a NodePort Service does not open the machine to its network
    (kube-proxy's --nodeport-addresses)."""
    settings = LauncherSettings(home=tmp_path)
    planned = {i.name: i for i in components.instances(settings, _resolve(tmp_path))}
    assert _flag(planned["proxy"].argv, "nodeport-addresses") == "127.0.0.1/32"


def test_down_cleans_up_after_the_proxy_with_its_state_file(tmp_path: Path) -> None:
    """A proxy killed before it removed its rules and bridge (`minik8s down` waits
    `--stop-timeout`, then SIGKILL) is cleaned up after: `minik8s-proxy --cleanup` with the
    state file the running proxy wrote (its sysctls to put back)."""
    settings = LauncherSettings(home=tmp_path)
    cluster = _resolve(tmp_path)
    planned = {i.name: i for i in components.instances(settings, cluster)}
    (cleanup,) = [argv for argv in components.cleanups(settings, cluster)
                  if "minik8s.proxy.server" in argv]  # fmt: skip
    assert "--cleanup" in cleanup
    assert _flag(cleanup, "state-file") == _flag(planned["proxy"].argv, "state-file")
