"""`minik8s up --control-plane-endpoint HOST[:PORT]`: what the cluster remembers and how its
processes, certificate and HAProxy are configured (pure: no process is started)."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest
from cryptography import x509

from minik8s.api import errors
from minik8s.cli.bootstrap import discovery, proxyconfig
from minik8s.cli.bootstrap.join import JoinOptions, NodeFiles
from minik8s.cli.bootstrap.join import instances as join_instances
from minik8s.cli.launcher import components, network, pki, state
from minik8s.cli.launcher.errors import LauncherError
from minik8s.cli.launcher.settings import LauncherSettings
from minik8s.client.exceptions import ServerUnreachable

HOST = "192.0.2.10"


def _resolve(
    tmp_path: Path, remembered: state.ClusterState | None = None, **kwargs: object
) -> state.ClusterState:
    settings = LauncherSettings(home=tmp_path, **kwargs)  # type: ignore[arg-type]
    cluster, _ = state.resolve(settings, remembered, ())
    return cluster


def _planned(tmp_path: Path, cluster: state.ClusterState) -> dict[str, list[str]]:
    settings = LauncherSettings(home=tmp_path)
    return {i.name: i.argv for i in components.instances(settings, cluster)}


def _flag(argv: list[str], name: str) -> str | None:
    found = [arg.split("=", 1)[1] for arg in argv if arg.startswith(f"--{name}=")]
    return found[0] if found else None


@pytest.mark.parametrize(
    ("value", "expected"),
    [(HOST, (HOST, 6443)), (f"{HOST}:7443", (HOST, 7443)), (f" {HOST} ", (HOST, 6443))],
)
def test_an_endpoint_is_an_address_and_an_optional_port(
    value: str, expected: tuple[str, int]
) -> None:
    assert state.parse_endpoint(value, 6443) == expected


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("cp.example", "IPv4 address"),
        ("127.0.0.1", "not loopback"),
        ("0.0.0.0:6443", "not loopback, 0.0.0.0"),
        (f"{HOST}:0", "1-65535"),
        (f"{HOST}:http", "1-65535"),
        (f"{HOST}:70000", "1-65535"),
    ],
)
def test_a_bad_endpoint_is_one_clear_error(value: str, why: str) -> None:
    with pytest.raises(LauncherError, match=why):
        state.parse_endpoint(value, 6443)


def test_the_endpoint_is_remembered_and_can_be_cleared(tmp_path: Path) -> None:
    cluster = _resolve(tmp_path, apiserver_port=6443, control_plane_endpoint=HOST)
    assert cluster.endpoint == (HOST, 6443)
    assert cluster.join_url == f"https://{HOST}:6443"
    state.save(tmp_path / "cluster.json", cluster)
    loaded = state.load(tmp_path / "cluster.json")
    assert loaded == cluster
    assert _resolve(tmp_path, loaded).control_plane_endpoint == HOST, "a later `up` keeps it"
    cleared = _resolve(tmp_path, loaded, control_plane_endpoint="")
    assert cleared.endpoint is None and cleared.join_url == cleared.apiserver_url


def test_a_cluster_json_of_an_older_minik8s_has_no_endpoint(tmp_path: Path) -> None:
    (tmp_path / "cluster.json").write_text(json.dumps({"apiserver_port": 6443}))
    loaded = state.load(tmp_path / "cluster.json")
    assert loaded is not None and loaded.endpoint is None
    (tmp_path / "cluster.json").write_text(json.dumps({"control_plane_endpoint": 3}))
    with pytest.raises(LauncherError, match="not a minik8s cluster state"):
        state.load(tmp_path / "cluster.json")


def test_one_apiserver_serves_the_endpoint_on_its_own_port_only(tmp_path: Path) -> None:
    with pytest.raises(LauncherError, match="the apiserver's"):
        _resolve(tmp_path, apiserver_port=6443, control_plane_endpoint=f"{HOST}:7443")
    ha = _resolve(tmp_path, control_plane=3, control_plane_endpoint=f"{HOST}:7443")
    assert ha.endpoint == (HOST, 7443), "HAProxy binds any port"


def test_the_lone_apiserver_advertises_and_listens_on_the_endpoint(tmp_path: Path) -> None:
    plain = _planned(tmp_path, _resolve(tmp_path))
    assert _flag(plain["apiserver"], "bind-address") == "127.0.0.1"
    assert _flag(plain["apiserver"], "advertise-address") == network.pod_gateway()
    assert _flag(plain["controller-manager"], "allocate-node-cidrs") is None

    joinable = _planned(tmp_path, _resolve(tmp_path, control_plane_endpoint=HOST))
    assert _flag(joinable["apiserver"], "bind-address") == "127.0.0.1", "loopback stays"
    assert _flag(joinable["apiserver"], "advertise-address") == HOST
    manager = joinable["controller-manager"]
    assert _flag(manager, "allocate-node-cidrs") == "true"
    assert _flag(manager, "cluster-cidr") == network.POD_SUBNET
    for argv in joinable.values():
        assert not any("0.0.0.0" in arg for arg in argv), "nothing binds every address"


def test_haproxy_also_binds_the_endpoint_and_the_apiservers_stay(tmp_path: Path) -> None:
    settings = LauncherSettings(home=tmp_path)
    cluster = _resolve(tmp_path, control_plane=3, control_plane_endpoint=f"{HOST}:7443")
    assert components.write_loadbalancer_config(settings, cluster) is False, "a new file"
    config = settings.loadbalancer_config.read_text()
    binds = [line.split()[1] for line in config.splitlines() if line.strip().startswith("bind ")]
    assert binds == [f"127.0.0.1:{cluster.apiserver_port}", f"{HOST}:7443"]
    planned = _planned(tmp_path, cluster)
    for member in ("apiserver-1", "apiserver-2", "apiserver-3"):
        assert _flag(planned[member], "advertise-address") == network.pod_gateway()
    assert _flag(planned["controller-manager-1"], "allocate-node-cidrs") == "true"

    assert components.write_loadbalancer_config(settings, cluster) is False, "unchanged"
    cleared = _resolve(tmp_path, cluster, control_plane_endpoint="")
    assert components.write_loadbalancer_config(settings, cleared) is True, "changed: restart"
    assert HOST not in settings.loadbalancer_config.read_text()


def _sans(path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}


def test_the_serving_certificate_is_issued_again_by_the_same_ca_for_the_endpoint(
    tmp_path: Path,
) -> None:
    keys = pki.ensure(tmp_path)
    ca = keys.ca_cert.read_bytes()
    assert HOST not in _sans(keys.serving_cert)
    pki.ensure(tmp_path, HOST)
    assert HOST in _sans(keys.serving_cert) and "127.0.0.1" in _sans(keys.serving_cert)
    assert keys.ca_cert.read_bytes() == ca, "clients keep trusting it"
    issued = x509.load_pem_x509_certificate(keys.serving_cert.read_bytes())
    issued.verify_directly_issued_by(x509.load_pem_x509_certificate(ca))
    again = keys.serving_cert.read_bytes()
    pki.ensure(tmp_path, HOST)
    assert keys.serving_cert.read_bytes() == again, "kept once it names the endpoint"
    assert all(ipaddress.ip_address(ip) for ip in _sans(keys.serving_cert))


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            ServerUnreachable(
                "cannot reach the apiserver at https://10.1.2.3:6443: Cannot connect to host "
                "10.1.2.3:6443 ssl:default [Connect call failed ('10.1.2.3', 6443)]"
            ),
            "connection refused",
        ),
        (ServerUnreachable("cannot reach the apiserver: Connection timeout"), "timed out"),
        (discovery.NotSignedYet("no JWS"), "no signature for this token yet"),
        (errors.NotFound("GET …/cluster-info: HTTP 404"), "HTTP 404 NotFound"),
    ],
)
def test_join_says_why_each_discovery_attempt_failed(error: Exception, reason: str) -> None:
    assert reason in discovery.retry_reason(error)


def test_kube_proxy_configmap_carries_the_pod_range_for_joining_tokens() -> None:
    published = proxyconfig.configmap(network.POD_SUBNET)
    assert published["metadata"] == {"name": "kube-proxy", "namespace": "kube-system",
                                     "labels": {"app": "kube-proxy"}}  # fmt: skip
    assert proxyconfig.cluster_cidr(published) == network.POD_SUBNET
    assert proxyconfig.cluster_cidr({"data": {"config.conf": "clusterCIDR: nonsense"}}) is None
    assert proxyconfig.cluster_cidr({"data": {}}) is None
    (_, role), (_, binding) = proxyconfig.rbac_objects()
    assert role["rules"] == [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"],
                              "resourceNames": ["kube-proxy"]}]  # fmt: skip
    assert binding["subjects"][0]["name"] == "system:bootstrappers:kubeadm:default-node-token"


def test_a_joined_kube_proxy_gets_the_learned_range_unless_told_one(tmp_path: Path) -> None:
    options = JoinOptions(
        endpoint=f"https://{HOST}:6443", token="abcdef.0123456789abcdef", ca_hashes=[],
        node_name="m1", node_ip="10.0.0.2", home=tmp_path,
    )  # fmt: skip
    files = NodeFiles(tmp_path, proxy_args=("--cluster-cidr=10.244.0.0/16",))
    settings = LauncherSettings(home=tmp_path)
    planned = {i.name: i.argv for i in join_instances(options, files, settings)}
    assert _flag(planned["proxy"], "cluster-cidr") == "10.244.0.0/16"
    assert _flag(planned["kubelet-m1"], "cluster-cidr") is None
