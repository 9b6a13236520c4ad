import random

import pytest

from minik8s.api import errors
from minik8s.apiserver import allocators


def svc(
    name: str, cluster_ip: str = "", type_: str = "ClusterIP", node_port: int | None = None
) -> dict:
    port: dict = {"port": 80}
    if node_port:
        port["nodePort"] = node_port
    spec: dict = {"type": type_, "ports": [port]}
    if cluster_ip:
        spec["clusterIP"] = cluster_ip
    return {"metadata": {"name": name}, "spec": spec}


def test_allocates_unique_ips_inside_the_range() -> None:
    others: list[dict] = []
    for i in range(50):
        s = svc(f"s{i}")
        allocators.assign_service_addresses(s, others, "10.96.0.0/26", (30000, 30010))
        others.append(s)
    ips = [s["spec"]["clusterIP"] for s in others]
    assert len(set(ips)) == 50
    assert all(ip.startswith("10.96.0.") for ip in ips)
    assert "10.96.0.0" not in ips and "10.96.0.1" not in ips and "10.96.0.63" not in ips


def test_full_range_is_an_error() -> None:
    with pytest.raises(allocators.RangeFull):
        allocators.allocate_cluster_ip("10.96.0.0/30", {"10.96.0.2"}, random.Random(1))


def test_requested_ip_taken_is_invalid() -> None:
    with pytest.raises(errors.Invalid) as info:
        allocators.assign_service_addresses(
            svc("b", "10.96.0.10"), [svc("a", "10.96.0.10")], "10.96.0.0/16", (30000, 32767)
        )
    assert info.value.causes[0].field == "spec.clusterIPs"
    assert "already allocated" in info.value.causes[0].message


def test_requested_ip_outside_range_is_invalid() -> None:
    with pytest.raises(errors.Invalid):
        allocators.assign_service_addresses(
            svc("b", "10.0.0.10"), [], "10.96.0.0/16", (30000, 32767)
        )


def test_node_ports_allocated_kept_and_checked() -> None:
    first = svc("a", type_="NodePort")
    allocators.assign_service_addresses(first, [], "10.96.0.0/16", (30000, 30001))
    port = first["spec"]["ports"][0]["nodePort"]
    assert 30000 <= port <= 30001
    second = svc("b", type_="NodePort", node_port=port)
    with pytest.raises(errors.Invalid):
        allocators.assign_service_addresses(second, [first], "10.96.0.0/16", (30000, 30001))
    updated = svc("a", type_="NodePort")
    allocators.assign_service_addresses(updated, [], "10.96.0.0/16", (30000, 30001), old=first)
    assert updated["spec"]["ports"][0]["nodePort"] == port
    assert updated["spec"]["clusterIP"] == first["spec"]["clusterIP"]


def test_cluster_ip_none_is_headless() -> None:
    s = svc("h", "None")
    allocators.assign_service_addresses(s, [], "10.96.0.0/16", (30000, 32767))
    assert s["spec"]["clusterIP"] == "None"
