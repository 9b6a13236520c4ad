"""The cloud controller manager's pure parts: the address pool, the service controller's and
node controllers' decisions, the docker provider's reading of Docker, the flags."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from minik8s.cloudcontroller import config, docker_plan, node_plan, pool, service_plan
from minik8s.cloudcontroller.provider import InstanceMetadata

pytestmark = pytest.mark.unit

# --- the pool --------------------------------------------------------------------------------


def test_pool_parses_cidrs_and_ranges_and_leaves_out_network_and_broadcast() -> None:
    p = pool.parse("203.0.113.0/30, 198.51.100.10-198.51.100.12,192.0.2.7/32")
    assert p.size == 2 + 3 + 1
    assert p.networks == ("203.0.113.0/30", "198.51.100.10/31", "198.51.100.12/32",
                          "192.0.2.7/32")  # fmt: skip
    assert "203.0.113.1" in p and "203.0.113.0" not in p and "203.0.113.3" not in p
    assert "198.51.100.12" in p and "198.51.100.13" not in p and "x" not in p
    bad_pools = [("", "empty"), ("10.0.0.1/24", "host bits"), ("1.2.3.9-1.2.3.1", "before"),
                 ("10.0.0.0/24,10.0.0.5-10.0.0.9", "overlap"), ("10.0.0.0/8", "/12")]  # fmt: skip
    for bad, why in bad_pools:
        with pytest.raises(ValueError, match=why):
            pool.parse(bad)


def test_allocator_lowest_free_requested_kept_released_and_exhausted() -> None:
    a = pool.Allocator(pool.parse("203.0.113.0/30"))  # .1 and .2
    assert a.assign("uid-a", "ns/a") == "203.0.113.1"
    assert a.assign("uid-a", "ns/a") == "203.0.113.1"  # kept
    assert a.assign("uid-b", "ns/b", requested="203.0.113.2") == "203.0.113.2"
    with pytest.raises(pool.PoolExhausted, match=r"no free address .* \(2 of 2 in use\)"):
        a.assign("uid-c", "ns/c")
    with pytest.raises(pool.PoolError, match=r"203\.0\.113\.1 is already used by ns/a"):
        a.assign("uid-c", "ns/c", requested="203.0.113.1")
    with pytest.raises(pool.PoolError, match="not in the load balancer pool"):
        a.assign("uid-c", "ns/c", requested="10.0.0.1")
    assert a.release("uid-a") == "203.0.113.1" and a.release("uid-a") is None
    assert a.assign("uid-c", "ns/c") == "203.0.113.1"
    assert a.in_use == 2


def test_restore_keeps_the_first_claim_and_refuses_the_rest() -> None:
    a = pool.Allocator(pool.parse("203.0.113.0/29"))
    refused = a.restore([("u1", "ns/old", "203.0.113.3"), ("u2", "ns/new", "203.0.113.3"),
                         ("u3", "ns/out", "10.9.9.9"), ("u4", "ns/ok", "203.0.113.1")])  # fmt: skip
    assert refused == [("ns/new", "203.0.113.3"), ("ns/out", "10.9.9.9")]
    assert a.address_of("u1") == "203.0.113.3" and a.address_of("u2") is None
    assert a.assign("u2", "ns/new") == "203.0.113.2"  # never one held by another


# --- the service controller --------------------------------------------------------------------


def svc(type_: str = "LoadBalancer", **extra: Any) -> dict[str, Any]:
    meta = extra.pop("metadata", {"name": "web", "namespace": "default", "uid": "u1"})
    return {"metadata": meta, "spec": {"type": type_, "ports": [{"port": 80}], **extra}}


def test_which_services_are_ours() -> None:
    assert service_plan.wants_load_balancer(svc())
    assert not service_plan.wants_load_balancer(svc("NodePort"))
    foreign = svc(loadBalancerClass="example.com/other")
    assert not service_plan.wants_load_balancer(foreign) and not service_plan.ours(foreign)
    assert service_plan.wants_load_balancer(foreign, "example.com/other")
    held = svc("ClusterIP", metadata={"name": "w", "finalizers": [service_plan.FINALIZER]})
    assert service_plan.needs_cleanup(held) and service_plan.ours(held)
    deleting = svc(metadata={"name": "w", "finalizers": [service_plan.FINALIZER],
                             "deletionTimestamp": "2024-01-01T00:00:00Z"})  # fmt: skip
    assert service_plan.needs_cleanup(deleting)
    assert not service_plan.needs_cleanup(svc())


def test_needs_update_only_for_what_a_load_balancer_depends_on() -> None:
    old = svc()
    assert not service_plan.needs_update(old, {**old, "status": {"loadBalancer": {}}})
    for change in ({"loadBalancerSourceRanges": ["10.0.0.0/8"]}, {"loadBalancerIP": "1.2.3.4"},
                   {"externalTrafficPolicy": "Local"}, {"ports": [{"port": 81}]}):  # fmt: skip
        assert service_plan.needs_update(old, svc(**change)), change
    assert service_plan.needs_update(old, svc("ClusterIP"))
    assert not service_plan.needs_update(svc("ClusterIP"), svc("NodePort"))


def test_status_patches() -> None:
    status = {"ingress": [{"ip": "203.0.113.1", "ipMode": "VIP"}]}
    assert service_plan.status_patch(status) == {"status": {"loadBalancer": status}}
    assert service_plan.status_patch({}) == {"status": {"loadBalancer": {"ingress": None}}}
    assert service_plan.is_pending(svc()) and not service_plan.is_pending(
        {**svc(), "status": {"loadBalancer": status}}
    )
    patch = service_plan.finalizers_patch(svc(metadata={"name": "w", "resourceVersion": "7"}), [])
    assert patch == {"metadata": {"finalizers": None, "resourceVersion": "7"}}


def node(name: str = "node-1", ready: str = "True", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "annotations": {}},
        "spec": spec,
        "status": {"conditions": [{"type": "Ready", "status": ready}],
                   "addresses": [{"type": "InternalIP", "address": "10.1.0.5"},
                                 {"type": "Hostname", "address": name}]},
    }  # fmt: skip


def test_eligible_nodes_like_kubernetes() -> None:
    assert service_plan.eligible_node(node())
    excluded = node()
    excluded["metadata"]["labels"] = {service_plan.EXCLUDE_LABEL: ""}
    assert not service_plan.eligible_node(excluded)
    assert not service_plan.eligible_node(node(taints=[{"key": "ToBeDeletedByClusterAutoscaler",
                                                        "effect": "NoSchedule"}]))  # fmt: skip
    assert service_plan.node_signature(node()) != service_plan.node_signature(node(ready="False"))


# --- the node controllers ---------------------------------------------------------------------

TAINT = {"key": node_plan.UNINITIALIZED_TAINT, "value": "true", "effect": "NoSchedule"}
METADATA = InstanceMetadata(
    provider_id="docker://abc",
    instance_type="container",
    node_addresses=[{"type": "InternalIP", "address": "172.18.0.3"},
                    {"type": "InternalIP", "address": "172.19.0.3"}],
)  # fmt: skip


def test_initialization_sets_provider_id_and_labels_and_removes_only_its_taint() -> None:
    other = {"key": "dedicated", "value": "x", "effect": "NoSchedule"}
    fresh = node(taints=[TAINT, other])
    assert node_plan.uninitialized(fresh)
    done = node_plan.initialized_node(fresh, METADATA)
    assert done["spec"] == {"taints": [other], "providerID": "docker://abc"}
    assert done["metadata"]["labels"]["node.kubernetes.io/instance-type"] == "container"
    assert fresh["spec"]["taints"] == [TAINT, other]  # not changed in place
    kept = node_plan.initialized_node(node(taints=[TAINT], providerID="kept://1"), METADATA)
    assert kept["spec"] == {"providerID": "kept://1"}


def test_addresses_put_the_kubelets_node_ip_first_and_keep_the_hostname() -> None:
    n = node()
    assert node_plan.node_addresses(n, METADATA.node_addresses) == [
        *METADATA.node_addresses, {"type": "Hostname", "address": "node-1"}]  # fmt: skip
    n["metadata"]["annotations"][node_plan.PROVIDED_NODE_IP] = "172.19.0.3"
    assert node_plan.node_addresses(n, METADATA.node_addresses)[:2] == [
        {"type": "InternalIP", "address": "172.19.0.3"},
        {"type": "InternalIP", "address": "172.18.0.3"},
    ]
    n["metadata"]["annotations"][node_plan.PROVIDED_NODE_IP] = "10.9.9.9"
    with pytest.raises(node_plan.AddressError, match=r"that matches ip: 10\.9\.9\.9"):
        node_plan.node_addresses(n, METADATA.node_addresses)
    assert not node_plan.addresses_changed(METADATA.node_addresses, METADATA.node_addresses)
    assert node_plan.addresses_changed(METADATA.node_addresses, METADATA.node_addresses[:1])


def test_shutdown_taint_added_and_removed_once() -> None:
    tainted = node_plan.with_shutdown_taint(node(ready="Unknown"), True)
    assert tainted is not None and tainted["spec"]["taints"] == [node_plan.SHUTDOWN_TAINT]
    assert node_plan.with_shutdown_taint(tainted, True) is None
    untainted = node_plan.with_shutdown_taint(tainted, False)
    assert untainted is not None and "taints" not in untainted["spec"]
    assert node_plan.node_ready_status({"metadata": {}}) == "Unknown"


# --- the docker provider's reading of Docker ------------------------------------------------


def container(id_: str, hostname: str, env: list[str], number: str = "1", running: bool = True,
              service: str = "node-1") -> dict[str, Any]:  # fmt: skip
    return {
        "Id": id_,
        "Config": {"Hostname": hostname, "Env": env,
                   "Labels": {docker_plan.SERVICE_LABEL: service,
                              docker_plan.NUMBER_LABEL: number}},
        "State": {"Running": running, "Status": "running" if running else "exited"},
        "NetworkSettings": {"Networks": {"p_default": {"IPAddress": "172.18.0.3"}}},
    }  # fmt: skip


def test_node_containers_are_found_by_provider_id_or_by_the_name_they_register() -> None:
    named = container("a" * 64, "node-1", ["NODE_NAME=node-1"])
    scaled = container("b" * 64, "bbbbbbbbbbbb", [], number="3", service="worker")
    containers = [named, scaled]
    assert docker_plan.node_name_of(scaled) == "worker-3"
    assert docker_plan.find_node_container(containers, node("node-1")) is named
    assert docker_plan.find_node_container(containers, node("worker-3")) is scaled
    by_id = node("renamed", providerID="docker://" + "b" * 64)
    assert docker_plan.find_node_container(containers, by_id) is scaled
    assert docker_plan.find_node_container(containers, node("x", providerID="docker://c")) is None
    assert docker_plan.container_ip(named, "p_default") == "172.18.0.3"
    assert not docker_plan.shut_down(named)
    assert docker_plan.shut_down(container("c" * 64, "n", [], running=False))


def test_own_container_bridge_and_routes() -> None:
    mountinfo = ("612 600 0:50 /var/lib/docker/containers/" + "d" * 64 + "/hostname "
                 "/etc/hostname rw - ext4 /dev/sda1 rw\n")  # fmt: skip
    assert docker_plan.own_container_id(mountinfo) == "d" * 64
    assert docker_plan.own_container_id("", "12:pids:/docker/" + "e" * 64) == "e" * 64
    assert docker_plan.own_container_id("", "0::/") is None
    assert docker_plan.bridge_of({"Id": "0123456789abcdef", "Options": {}}) == "br-0123456789ab"
    assert docker_plan.bridge_of({"Id": "x", "Options": {
        "com.docker.network.bridge.name": "mk"}}) == "mk"  # fmt: skip
    assert docker_plan.route_args("198.51.100.1", "br-x", ["172.18.0.4", "172.18.0.3"]) == [
        "route", "replace", "198.51.100.1/32", "proto", "78",
        "nexthop", "via", "172.18.0.3", "dev", "br-x",
        "nexthop", "via", "172.18.0.4", "dev", "br-x",
    ]  # fmt: skip
    assert docker_plan.route_args("198.51.100.1", "br-x", ["172.18.0.3"])[-4:] == [
        "via", "172.18.0.3", "dev", "br-x"]  # fmt: skip
    assert docker_plan.route_args("198.51.100.1", "br-x", [])[:2] == ["route", "del"]


# --- flags ---------------------------------------------------------------------------------


def test_flags() -> None:
    s = config.parse_args(["--cloud-provider=docker", "--controllers=*,-service",
                           "--load-balancer-pool=198.51.100.0/24", "--node-monitor-period=2s",
                           "--leader-elect=false", "--healthz-port=0"])  # fmt: skip
    assert s.cloud_provider == "docker" and s.controllers == ("cloud-node", "cloud-node-lifecycle")
    assert s.node_monitor_period == 2.0 and not s.leader_election.leader_elect
    assert s.leader_election.resource_name == "cloud-controller-manager"
    assert config.parse_args([]).load_balancer_pool == "203.0.113.0/24"
    with pytest.raises(argparse.ArgumentTypeError, match="route controller is not available"):
        config._controllers("route")
    with pytest.raises(argparse.ArgumentTypeError, match="unknown controller"):
        config._controllers("nope")
