"""deploy/docker-compose.ha.yml stays the shape of docker-compose.yml and of `minik8s up
--control-plane 3` (pure: the files are read, nothing is started)."""

from __future__ import annotations

import base64
import importlib.util
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509

from minik8s import pki
from minik8s.api import bootstraprbac
from minik8s.cli.launcher import components, loadbalancer
from tests.support.keys import holds_key_of

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def services(name: str) -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / name).read_text())["services"]


BASE = services("docker-compose.yml")
HA = services("docker-compose.ha.yml")


def argv(service: dict[str, Any]) -> list[str]:
    return [*(service.get("entrypoint") or []), *service["command"]]


def test_ha_apiservers_run_the_single_apiservers_flags_but_etcd_servers() -> None:
    base = [f for f in BASE["apiserver"]["command"] if not f.startswith("--etcd-servers=")]
    for n in (1, 2, 3):
        own = argv(HA[f"apiserver-{n}"])
        servers = [f for f in own if f.startswith("--etcd-servers=")]
        assert [f for f in own if not f.startswith("--etcd-servers=")] == base
        # every member, its own first (failover to the others)
        endpoints = servers[0].split("=", 1)[1].split(",")
        assert endpoints[0] == f"https://etcd-{n}:2379" and len(set(endpoints)) == 3
        assert HA[f"apiserver-{n}"]["volumes"][1] == f"apiserver-{n}-audit:/var/log/minik8s"


def test_leader_elected_components_are_doubled_with_the_launchers_timing() -> None:
    for name in ("scheduler", "controller-manager", "cloud-controller-manager"):
        assert argv(HA[name]) == [*BASE[name]["command"], *components.LEADER_ELECTION], name
        assert argv(HA[f"{name}-2"]) == argv(HA[name])
        assert HA[f"{name}-2"]["volumes"][0] == BASE[name]["volumes"][0]  # one identity


def test_etcd_members_talk_tls_with_their_own_peer_certificate() -> None:
    for n in (1, 2, 3):
        member = argv(HA[f"etcd-{n}"])
        assert f"--initial-advertise-peer-urls=https://etcd-{n}:2380" in member
        assert "--peer-client-cert-auth" in member
        assert HA[f"etcd-{n}"]["volumes"] == [f"etcd-{n}-peer:/etcd-peer:ro"]
        assert not [f for f in member if f.startswith("--") and "http://" in f]


def test_the_load_balancer_holds_no_secret_of_the_apiserver() -> None:
    lb = HA["apiserver"]
    assert lb["image"] == "minik8s/haproxy:latest"
    # the single apiserver's volumes are replaced, target by target
    targets = {v.split(":")[1] if ":" in v else v for v in BASE["apiserver"]["volumes"]}
    assert {v.split(":")[1] if ":" in v else v for v in lb["volumes"]} == targets
    assert lb["volumes"][0] == "loadbalancer-creds:/etc/minik8s:ro"


def test_render_with_docker_dns_and_a_monitor() -> None:
    text = loadbalancer.render(
        loadbalancer.Settings(
            bind=("0.0.0.0", 6443),
            servers=[("apiserver-1", "apiserver-1", 6443)],
            ca_file=Path("/etc/minik8s/ca.crt"),
            stats_socket=Path("/var/lib/haproxy/admin.sock"),
            resolver=("127.0.0.11", 53),
            monitor=("127.0.0.1", 8404),
        )
    )
    assert "resolvers dns init-addr last,libc,none" in text
    assert "    nameserver dns 127.0.0.11:53\n" in text
    assert "    monitor fail if { nbsrv(kube-apiservers) lt 1 }\n" in text
    plain = loadbalancer.Settings(
        bind=("127.0.0.1", 6443),
        servers=[("apiserver-1", "127.0.0.1", 6444)],
        ca_file=Path("ca.crt"),
        stats_socket=Path("s"),
    )
    assert "resolvers" not in loadbalancer.render(plain)
    assert loadbalancer.render(plain).endswith("on-marked-down shutdown-sessions\n")


def test_nodes_mount_only_what_joining_needs() -> None:
    """Every node container joins by token (TLS bootstrapping): it mounts the `join-creds`
    volume and no control-plane credential; the token is in no environment variable."""
    document = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    for name in ("node-1", "node-2", "worker"):
        node = BASE[name]
        creds = [v for v in node["volumes"] if v.split(":")[0].endswith("-creds")]
        assert creds == ["join-creds:/etc/minik8s:ro"], name
        assert not any("TOKEN" in key for key in node.get("environment") or {}), name
        assert "bootstrap-token" in node["depends_on"], name
    mounted = {v.split(":")[0] for s in BASE.values() for v in s.get("volumes") or []}
    assert "join-creds" in mounted and "join-creds" in document["volumes"]
    assert "--enable-bootstrap-token-auth" in BASE["apiserver"]["command"]
    for manager in (BASE["controller-manager"], HA["controller-manager"]):
        assert "--cluster-signing-key-file=/etc/minik8s/ca.key" in manager["command"]
        assert "--controllers=*,bootstrapsigner,tokencleaner" in manager["command"]


def _init_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """deploy/compose/init.py, its volumes being directories under `tmp_path`."""
    spec = importlib.util.spec_from_file_location("compose_init", DEPLOY / "compose" / "init.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "STATE", tmp_path / "state")
    monkeypatch.setattr(module, "ETCD_PKI", tmp_path / "etcd-pki")
    monkeypatch.setattr(module, "ETCD_CLIENT", tmp_path / "etcd-client")
    monkeypatch.setattr(module, "OUT", tmp_path / "no-out")
    for volume in [v.split(":")[1] for v in BASE["init"]["volumes"] + HA["init"]["volumes"]]:
        if volume.startswith("/state/"):
            (tmp_path / "state" / volume.removeprefix("/state/")).mkdir(parents=True)
    return module


def _san(path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(n) for n in names.get_values_for_type(x509.IPAddress)} | set(
        names.get_values_for_type(x509.DNSName)
    )


def test_init_issues_each_ha_apiserver_its_own_serving_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    init = _init_module(tmp_path, monkeypatch)
    init.main()
    state = tmp_path / "state"
    shared = {p.name for p in (state / "apiserver").iterdir()}
    keys = set()
    for n in (1, 2, 3):
        own = state / f"apiserver-{n}"
        assert HA[f"apiserver-{n}"]["volumes"][0] == f"apiserver-{n}-creds:/etc/minik8s:ro"
        assert {p.name for p in own.iterdir()} == shared  # and no CA key
        for name in ("sa.key", "encryption-config.yaml", "ca.crt", "audit-webhook.conf"):
            assert (own / name).read_bytes() == (state / "apiserver" / name).read_bytes()
        names = _san(own / "apiserver.crt")
        assert {f"apiserver-{n}", "apiserver", "10.96.0.1", "kubernetes.default.svc"} <= names
        assert not {f"apiserver-{m}" for m in (1, 2, 3) if m != n} & names
        keys.add((own / "apiserver.key").read_bytes())
        assert (own / "apiserver.key").stat().st_mode & 0o077 == 0
    assert len(keys) == 3
    # the bootstrap-token one-shot's kubeconfig is its own user's, not the admin's
    config = yaml.safe_load((state / "bootstrap" / "kubeconfig").read_text())
    user = config["users"][0]["user"]
    cert = x509.load_pem_x509_certificate(base64.b64decode(user["client-certificate-data"]))
    common = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    assert common == bootstraprbac.TOKEN_WRITER and not cert.subject.get_attributes_for_oid(
        x509.NameOID.ORGANIZATION_NAME
    )
    before = (state / "apiserver-1" / "apiserver.crt").read_bytes()
    init.main()  # a rerun keeps what exists
    assert (state / "apiserver-1" / "apiserver.crt").read_bytes() == before


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """A service's named volumes: target -> volume."""
    return {v.split(":")[1]: v.split(":")[0] for v in service.get("volumes") or [] if ":" in v}


def test_only_init_mounts_a_volume_with_a_ca_key() -> None:
    """etcd's CA key is in `pki` (with the cluster CA's): `init` alone mounts it; the members
    mount `etcd-pki`, the apiservers `etcd-client`, each only what it needs."""
    for layout in (BASE, HA):
        for name, service in layout.items():
            assert name == "init" or "pki" not in _mounts(service).values(), name
    assert _mounts(BASE["init"])["/etcd-client"] == "etcd-client"
    for n in (1, 2, 3):
        assert _mounts(BASE[f"etcd-{n}"])["/etcd-pki"] == "etcd-pki"
        assert _mounts(HA[f"apiserver-{n}"])["/etcd-pki"] == "etcd-client"
        assert "etcd-client" not in _mounts(BASE[f"etcd-{n}"]).values()
    assert _mounts(BASE["apiserver"])["/etcd-pki"] == "etcd-client"
    assert "/etcd-pki" in HA["apiserver"]["volumes"]  # the load balancer: an empty one


def _etcd_files(tmp_path: Path) -> dict[str, set[str]]:
    return {
        volume: {p.name for p in (tmp_path / volume).iterdir()}
        for volume in ("etcd-pki", "etcd-client")
    }


def _holders_of_etcd_ca_key(tmp_path: Path) -> list[Path]:
    ca = (tmp_path / "state" / "pki" / "etcd" / "ca.crt").read_bytes()
    return [
        path
        for path in sorted(tmp_path.rglob("*"))
        if path.is_file() and holds_key_of(ca, path.read_bytes())
    ]


def test_init_keeps_etcds_ca_key_in_pki_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    init = _init_module(tmp_path, monkeypatch)
    init.main()
    etcd_ca = tmp_path / "state" / "pki" / "etcd"
    assert _holders_of_etcd_ca_key(tmp_path) == [etcd_ca / "ca.key"]
    assert _etcd_files(tmp_path) == {
        "etcd-pki": {"ca.crt", "server.crt", "server.key"},
        "etcd-client": {"ca.crt", "apiserver-etcd-client.crt", "apiserver-etcd-client.key"},
    }
    for directory in (etcd_ca, tmp_path / "etcd-pki", tmp_path / "etcd-client"):
        assert directory.stat().st_mode & 0o777 == 0o700
        assert all(p.stat().st_mode & 0o777 == 0o600 for p in directory.iterdir())
    ca = x509.load_pem_x509_certificate((etcd_ca / "ca.crt").read_bytes())
    for peer in (tmp_path / "state" / f"etcd-{n}-peer" / "peer.crt" for n in (1, 2, 3)):
        x509.load_pem_x509_certificate(peer.read_bytes()).verify_directly_issued_by(ca)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    init.main()  # a rerun issues nothing again
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_init_moves_etcds_ca_key_out_of_a_cluster_made_by_the_old_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, everything of etcd's CA was in `etcd-pki` (members and apiserver mounted it):
    a rerun keeps the CA and the certificates the members and apiserver use, and moves the
    CA's key (and the apiserver's client key) out of it."""
    old = pki.ensure_etcd_certificates(tmp_path / "etcd-pki", ("etcd-1", "etcd-2", "etcd-3"))
    kept = {path.name: path.read_bytes() for path in old.files()}
    init = _init_module(tmp_path, monkeypatch)
    init.main()
    etcd_ca = tmp_path / "state" / "pki" / "etcd"
    assert {p.name: p.read_bytes() for p in etcd_ca.iterdir()} == kept
    assert _holders_of_etcd_ca_key(tmp_path) == [etcd_ca / "ca.key"]
    assert _etcd_files(tmp_path)["etcd-pki"] == {"ca.crt", "server.crt", "server.key"}
    for volume in ("etcd-pki", "etcd-client"):
        for path in (tmp_path / volume).iterdir():
            assert path.read_bytes() == kept[path.name], path
