"""The EndpointSlice controller's pure decisions: endpoints, conditions, slicing, writes."""

from __future__ import annotations

from typing import Any

from minik8s.api import meta
from minik8s.controllers import endpointslice_plan as plan
from tests.unit.test_controllers_misc import pod
from tests.unit.test_controllers_misc import service as plain_service


def service(**spec: Any) -> dict:
    svc = plain_service(**spec)
    svc["metadata"]["uid"] = "svc-uid"
    return svc


def stored(body: dict, name: str, version: int = 1) -> dict:
    """`body` as the apiserver returns it after a create: named, versioned."""
    return {**body, "metadata": {**body["metadata"], "name": name,
                                 "resourceVersion": str(version)}}  # fmt: skip


def test_a_pod_is_an_endpoint_with_conditions_node_and_reference() -> None:
    ready = pod("a", "10.0.0.1", True)
    not_ready = pod("b", "10.0.0.2", False)
    terminating = pod("c", "10.0.0.3", True, deletionTimestamp="2024-05-01T12:00:00Z")
    no_ip = pod("d", None, True)
    finished = pod("e", "10.0.0.5", True)
    finished["status"]["phase"] = "Succeeded"
    other = pod("f", "10.0.0.6", True, app="other")
    groups = plan.desired_groups(service(), [terminating, not_ready, ready, no_ip, finished, other])
    assert list(groups) == [(("http", 8080, "TCP", None),)]
    a, b, c = groups[(("http", 8080, "TCP", None),)]
    assert a == {
        "addresses": ["10.0.0.1"],
        "conditions": {"ready": True, "serving": True, "terminating": False},
        "targetRef": {"kind": "Pod", "namespace": "ns", "name": "a", "uid": "u-a"},
        "nodeName": "n1",
    }
    assert b["conditions"] == {"ready": False, "serving": False, "terminating": False}
    assert c["conditions"] == {"ready": False, "serving": True, "terminating": True}


def test_publish_not_ready_addresses_makes_every_endpoint_ready() -> None:
    groups = plan.desired_groups(
        service(publishNotReadyAddresses=True), [pod("b", "10.0.0.2", False)]
    )
    ((endpoint,),) = groups.values()
    assert endpoint["conditions"] == {"ready": True, "serving": False, "terminating": False}


def test_an_endpoint_carries_its_nodes_zone_and_its_ports_app_protocol() -> None:
    svc = service(ports=[{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP",
                          "appProtocol": "http"}])  # fmt: skip
    (body,) = plan.reconcile(svc, [pod("a", "10.0.0.1", True)], [], zones={"n1": "z1"}).create
    assert body["endpoints"][0]["zone"] == "z1"
    assert body["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP",
                              "appProtocol": "http"}]  # fmt: skip


def test_slice_labels_copy_the_services_but_the_reserved_ones() -> None:
    svc = service(clusterIP="None")
    svc["metadata"]["labels"] = {
        "l": "v",
        "kubernetes.io/service-name": "spoof",
        "endpointslice.kubernetes.io/managed-by": "someone",
    }
    assert plan.desired_labels(svc) == {
        "l": "v",
        "kubernetes.io/service-name": "web",
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
        "service.kubernetes.io/headless": "",
    }
    not_headless = service()
    not_headless["metadata"]["labels"] = {"service.kubernetes.io/headless": ""}
    assert "service.kubernetes.io/headless" not in plan.desired_labels(not_headless)


def test_external_name_and_selectorless_services_get_no_slices_from_the_controller() -> None:
    assert not plan.selects_pods(service(type="ExternalName"))
    assert not plan.selects_pods({"spec": {}})
    assert not plan.selects_pods(service(selector={}))
    assert plan.selects_pods(service())


def test_pods_group_by_their_resolved_ports() -> None:
    other_port = pod("b", "10.0.0.2", True)
    other_port["spec"]["containers"][0]["ports"][0]["containerPort"] = 9090
    unnamed = pod("c", "10.0.0.3", True)
    unnamed["spec"]["containers"][0]["ports"] = []
    groups = plan.desired_groups(service(), [pod("a", "10.0.0.1", True), other_port, unnamed])
    assert sorted(groups) == [(), (("http", 8080, "TCP", None),), (("http", 9090, "TCP", None),)]


def test_a_new_service_gets_slices_of_at_most_max_endpoints() -> None:
    pods = [pod(f"p{i}", f"10.0.0.{i}", True) for i in range(1, 6)]
    writes = plan.reconcile(service(), pods, [], max_per_slice=2)
    assert not writes.update and not writes.delete
    assert [len(s["endpoints"]) for s in writes.create] == [2, 2, 1]
    first = writes.create[0]
    assert first["addressType"] == "IPv4"
    assert first["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert first["metadata"]["generateName"] == "web-"
    assert first["metadata"]["labels"] == {
        "l": "v",
        "kubernetes.io/service-name": "web",
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
    }
    (owner,) = meta.owner_references(first)
    assert owner["kind"] == "Service" and owner["uid"] == "svc-uid" and owner["controller"]


def test_a_service_without_endpoints_keeps_one_placeholder_slice() -> None:
    (placeholder,) = plan.reconcile(service(), [], []).create
    assert placeholder["endpoints"] == [] and placeholder["ports"] == []
    unchanged = plan.reconcile(service(), [], [stored(placeholder, "web-x")])
    assert not unchanged


def test_existing_slices_are_updated_in_place_and_extras_deleted() -> None:
    pods = [pod(f"p{i}", f"10.0.0.{i}", True) for i in range(1, 5)]
    first = plan.reconcile(service(), pods, [], max_per_slice=2).create
    existing = [stored(body, f"web-{i}") for i, body in enumerate(first)]
    assert not plan.reconcile(service(), pods, existing, max_per_slice=2)
    # one pod goes: the first slice changes, the second stays as it is
    writes = plan.reconcile(service(), pods[1:], existing, max_per_slice=2)
    assert not writes.create and not writes.delete
    assert [meta.name_of(s) for s in writes.update] == ["web-0"]
    # all go but one: the second slice is deleted
    writes = plan.reconcile(service(), pods[:1], existing, max_per_slice=2)
    assert [meta.name_of(s) for s in writes.delete] == ["web-1"]
    assert [len(s["endpoints"]) for s in writes.update] == [1]


def test_a_changed_port_set_rewrites_the_slice_in_place() -> None:
    pods = [pod("a", "10.0.0.1", True)]
    existing = [stored(plan.reconcile(service(), pods, []).create[0], "web-a")]
    svc = service(ports=[{"name": "http", "port": 80, "targetPort": 8081, "protocol": "TCP"}])
    writes = plan.reconcile(svc, pods, existing)
    assert not writes.create and not writes.delete
    (updated,) = writes.update
    assert meta.name_of(updated) == "web-a" and updated["ports"][0]["port"] == 8081


def test_the_placeholder_becomes_the_first_real_slice() -> None:
    placeholder = stored(plan.reconcile(service(), [], []).create[0], "web-p")
    writes = plan.reconcile(service(), [pod("a", "10.0.0.1", True)], [placeholder])
    assert not writes.create and not writes.delete
    (updated,) = writes.update
    assert meta.name_of(updated) == "web-p" and len(updated["endpoints"]) == 1


def test_a_slice_of_an_older_service_of_that_name_is_deleted_not_reused() -> None:
    old = stored(plan.reconcile(service(), [], []).create[0], "web-old")
    old["metadata"]["ownerReferences"][0]["uid"] = "an-older-uid"
    writes = plan.reconcile(service(), [pod("a", "10.0.0.1", True)], [old])
    assert len(writes.create) == 1 and [meta.name_of(s) for s in writes.delete] == ["web-old"]


def test_only_this_controllers_slices_are_indexed_by_service() -> None:
    body = plan.reconcile(service(), [], []).create[0]
    assert plan.managed_service_key(stored(body, "web-a")) == ["ns/web"]
    foreign = stored(body, "web-b")
    foreign["metadata"]["labels"] = {"kubernetes.io/service-name": "web"}
    assert plan.managed_service_key(foreign) == []
