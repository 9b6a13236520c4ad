"""The kubelet's pod DNS files and Service variables: resolv.conf, /etc/hosts, env (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from minik8s.kubelet import dnsconfig, envvars, specs

pytestmark = pytest.mark.unit

HOST = dnsconfig.parse_resolv_conf(
    "# the node's\nnameserver 192.0.2.53\nsearch corp.example\noptions timeout:2\n"
)


def pod(**spec: Any) -> dict[str, Any]:
    spec.setdefault("containers", [{"name": "c", "image": "busybox"}])
    return {"metadata": {"name": "p", "namespace": "shop"}, "spec": spec}


def test_cluster_first_is_what_kubernetes_writes() -> None:
    conf = dnsconfig.resolv_conf(pod(), ("10.96.0.10",), "cluster.local", HOST)
    assert conf.render() == (
        "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example\n"
        "nameserver 10.96.0.10\n"
        "options ndots:5\n"
    )
    with_host_net = dnsconfig.resolv_conf(pod(dnsPolicy="ClusterFirstWithHostNet"),
                                          ("10.96.0.10",), "cluster.local", HOST)  # fmt: skip
    assert with_host_net.nameservers == ["10.96.0.10"]


def test_default_none_and_dns_config() -> None:
    default = dnsconfig.resolv_conf(pod(dnsPolicy="Default"), ("10.96.0.10",), "c.l", HOST)
    assert default.render() == "search corp.example\nnameserver 192.0.2.53\noptions timeout:2\n"
    none = dnsconfig.resolv_conf(
        pod(dnsPolicy="None", dnsConfig={
            "nameservers": ["1.2.3.4"], "searches": ["a.example"],
            "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}],
        }),
        ("10.96.0.10",), "cluster.local", HOST,
    )  # fmt: skip
    assert none.render() == "search a.example\nnameserver 1.2.3.4\noptions ndots:2 edns0\n"
    merged = dnsconfig.resolv_conf(
        pod(dnsConfig={"nameservers": ["10.96.0.10", "1.2.3.4"],
                       "options": [{"name": "ndots", "value": "1"}]}),
        ("10.96.0.10",), "cluster.local", HOST,
    )  # fmt: skip
    assert merged.nameservers == ["10.96.0.10", "1.2.3.4"] and merged.options == ["ndots:1"]


def test_limits_and_fallback_give_warnings() -> None:
    many = dnsconfig.resolv_conf(
        pod(dnsConfig={"nameservers": ["1.1.1.1", "2.2.2.2", "3.3.3.3"]}),
        ("10.96.0.10",), "cluster.local", HOST,
    )  # fmt: skip
    assert many.nameservers == ["10.96.0.10", "1.1.1.1", "2.2.2.2"]
    assert "Nameserver limits were exceeded" in many.warnings[0]
    fallback = dnsconfig.resolv_conf(pod(), (), "cluster.local", HOST)
    assert fallback.nameservers == ["192.0.2.53"] and "falling back" in fallback.warnings[0]


def test_hosts_file_with_subdomain_and_aliases() -> None:
    text = dnsconfig.hosts_file(
        pod(hostname="web-0", subdomain="web",
            hostAliases=[{"ip": "10.1.2.3", "hostnames": ["foo.local", "bar"]}]),
        "10.244.0.7", "cluster.local",
    )  # fmt: skip
    lines = text.splitlines()
    assert lines[0] == "# Kubernetes-managed hosts file."
    assert "127.0.0.1\tlocalhost" in lines
    assert "10.244.0.7\tweb-0.web.shop.svc.cluster.local\tweb-0" in lines
    assert lines[-2:] == ["# Entries added by HostAliases.", "10.1.2.3\tfoo.local\tbar"]
    assert "10.244.0.7\tp" in dnsconfig.hosts_file(pod(), "10.244.0.7", "cluster.local")


def test_host_network_pods_get_the_nodes_hosts_file_and_their_aliases() -> None:
    text = dnsconfig.host_network_hosts_file(
        pod(hostNetwork=True, hostAliases=[{"ip": "10.1.2.3", "hostnames": ["foo"]}]),
        "127.0.0.1\tlocalhost\n192.0.2.4\tnode-1",
    )
    assert text.splitlines() == [
        "# Kubernetes-managed hosts file (host network).", "127.0.0.1\tlocalhost",
        "192.0.2.4\tnode-1", "", "# Entries added by HostAliases.", "10.1.2.3\tfoo",
    ]  # fmt: skip


def service(name: str, ns: str, ip: str, *ports: tuple[str, int, str]) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": ns},
        "spec": {"clusterIP": ip,
                 "ports": [{"name": n, "port": p, "protocol": pr} for n, p, pr in ports]},
    }  # fmt: skip


SERVICES = [
    service("kubernetes", "default", "10.96.0.1", ("https", 443, "TCP")),
    service("web-api", "shop", "10.96.3.4", ("http", 80, "TCP"), ("dns", 53, "UDP")),
    service("headless", "shop", "None", ("http", 80, "TCP")),
    service("other", "elsewhere", "10.96.3.5", ("", 80, "TCP")),
]


def test_service_variables_like_kubernetes() -> None:
    env = envvars.service_env(SERVICES, "shop", True)
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"
    assert env["KUBERNETES_SERVICE_PORT"] == "443"
    assert env["KUBERNETES_SERVICE_PORT_HTTPS"] == "443"
    assert env["KUBERNETES_PORT"] == "tcp://10.96.0.1:443"
    assert env["KUBERNETES_PORT_443_TCP_ADDR"] == "10.96.0.1"
    assert env["WEB_API_SERVICE_HOST"] == "10.96.3.4"
    assert env["WEB_API_SERVICE_PORT"] == "80"
    assert env["WEB_API_SERVICE_PORT_DNS"] == "53"
    assert env["WEB_API_PORT_53_UDP"] == "udp://10.96.3.4:53"
    assert env["WEB_API_PORT_53_UDP_PROTO"] == "udp"
    assert not any(k.startswith(("HEADLESS_", "OTHER_")) for k in env)
    without_links = envvars.service_env(SERVICES, "shop", False)
    assert {k.split("_")[0] for k in without_links} == {"KUBERNETES"}


def test_container_env_overrides_and_expands_service_variables() -> None:
    container = {"name": "c", "env": [
        {"name": "WEB_API_SERVICE_PORT", "value": "8080"},
        {"name": "URL", "value": "http://$(WEB_API_SERVICE_HOST):$(WEB_API_SERVICE_PORT)"},
    ]}  # fmt: skip
    base = envvars.service_env(SERVICES, "shop", True)
    env = specs.resolve_env(pod(), container, "10.244.0.7", "127.0.0.1", {}, base=base)
    assert env["WEB_API_SERVICE_PORT"] == "8080"
    assert env["URL"] == "http://10.96.3.4:8080"
