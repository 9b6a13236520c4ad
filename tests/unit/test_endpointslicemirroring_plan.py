"""The EndpointSlice mirroring controller's pure decisions: which Endpoints are mirrored, the
endpoints, labels and annotations of a mirrored slice, truncation, and the writes."""

from __future__ import annotations

from typing import Any

from minik8s.controllers import endpointslicemirroring_plan as plan
from minik8s.controllers import slicesync
from tests.unit.test_endpointslice_plan import stored

MANAGED = {
    "kubernetes.io/service-name": "db",
    "endpointslice.kubernetes.io/managed-by": "endpointslicemirroring-controller.k8s.io",
}
HTTP = [{"name": "http", "port": 80, "protocol": "TCP"}]


def endpoints(*subsets: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "db", "namespace": "ns", "uid": "ep-uid", **metadata},
        "subsets": list(subsets),
    }


def subset(*ips: str, not_ready: tuple[str, ...] = (), ports: Any = None) -> dict[str, Any]:
    return {
        "addresses": [{"ip": ip} for ip in ips],
        "notReadyAddresses": [{"ip": ip} for ip in not_ready],
        "ports": HTTP if ports is None else ports,
    }


def test_what_is_mirrored() -> None:
    assert plan.should_mirror(endpoints())
    assert plan.should_mirror(endpoints(labels={plan.SKIP_MIRROR_LABEL: "false"}))
    assert not plan.should_mirror(endpoints(labels={plan.SKIP_MIRROR_LABEL: "true"}))
    leader = {plan.LEADER_ANNOTATION: '{"holderIdentity":"a"}'}
    assert not plan.should_mirror(endpoints(annotations=leader))
    assert not plan.has_selector({"spec": {}})
    assert not plan.has_selector({"spec": {"selector": {}}}), "an empty selector is none"
    assert not plan.has_selector({"spec": {"type": "ExternalName", "externalName": "x.io"}})
    assert plan.has_selector({"spec": {"selector": {"app": "db"}}})


def test_a_slice_mirrors_a_subset_with_metadata_and_owner() -> None:
    address = {"ip": "10.1.0.1", "hostname": "db-0", "nodeName": "n1",
               "targetRef": {"kind": "Pod", "namespace": "ns", "name": "db-0"}}  # fmt: skip
    ports = [{"name": "sql", "port": 5432, "protocol": "TCP", "appProtocol": "postgres"}]
    ep = endpoints(
        {"addresses": [address], "notReadyAddresses": [{"ip": "10.1.0.2"}], "ports": ports},
        labels={"team": "a", "kubernetes.io/service-name": "other"},
        annotations={"note": "x", "endpoints.kubernetes.io/last-change-trigger-time": "t",
                     "kubectl.kubernetes.io/last-applied-configuration": "{}"},
    )  # fmt: skip
    (body,) = plan.reconcile(ep, []).writes.create
    assert body["metadata"] == {
        "generateName": "db-",
        "namespace": "ns",
        "labels": {"team": "a", **MANAGED},
        "annotations": {"note": "x"},
        "ownerReferences": [{"apiVersion": "v1", "kind": "Endpoints", "name": "db",
                             "uid": "ep-uid", "controller": True, "blockOwnerDeletion": True}],
    }  # fmt: skip
    assert body["addressType"] == "IPv4"
    assert body["ports"] == ports
    assert body["endpoints"] == [
        {"addresses": ["10.1.0.1"], "conditions": {"ready": True}, "hostname": "db-0",
         "nodeName": "n1", "targetRef": address["targetRef"]},
        {"addresses": ["10.1.0.2"], "conditions": {"ready": False}},
    ]  # fmt: skip


def test_one_slice_per_port_set_and_none_for_an_empty_subset() -> None:
    ep = endpoints(
        subset("10.1.0.1"),
        subset("10.1.0.2", ports=[{"name": "https", "port": 443}]),
        subset("10.1.0.3"),  # same ports as the first: the same slice
        subset(ports=[{"name": "none", "port": 9}]),
    )
    created = plan.reconcile(ep, []).writes.create
    assert [
        ([e["addresses"][0] for e in s["endpoints"]], [p["name"] for p in s["ports"]])
        for s in created
    ] == [(["10.1.0.1", "10.1.0.3"], ["http"]), (["10.1.0.2"], ["https"])]


def test_invalid_and_ipv6_addresses_are_skipped_and_counted() -> None:
    ep = endpoints(subset("10.1.0.1", "not-an-ip", "fd00::1", not_ready=("10.1.0.1",)))
    planned = plan.reconcile(ep, [])
    (body,) = planned.writes.create
    assert body["endpoints"] == [{"addresses": ["10.1.0.1"], "conditions": {"ready": True}}]
    assert (planned.invalid, planned.skipped) == (2, 2)


def test_at_most_max_per_subset_addresses_ready_ones_first() -> None:
    ep = endpoints(subset("10.1.0.1", "10.1.0.2", not_ready=("10.1.0.3",)), subset("10.1.0.4"))
    planned = plan.reconcile(ep, [], max_per_subset=2)
    (body,) = planned.writes.create
    assert [e["addresses"][0] for e in body["endpoints"]] == ["10.1.0.1", "10.1.0.2"]
    assert (planned.invalid, planned.skipped) == (0, 2), "one over in each subset of the set"


def test_an_up_to_date_slice_is_left_alone_a_changed_one_updated() -> None:
    ep = endpoints(subset("10.1.0.1"), labels={"team": "a"})
    current = stored(plan.reconcile(ep, []).writes.create[0], "db-abcde")
    assert not plan.reconcile(ep, [current]).writes
    for changed in (
        endpoints(subset("10.1.0.1", "10.1.0.2"), labels={"team": "a"}),
        endpoints(subset(not_ready=("10.1.0.1",)), labels={"team": "a"}),
        endpoints(subset("10.1.0.1"), labels={"team": "b"}),
        endpoints(subset("10.1.0.1"), labels={"team": "a"}, annotations={"note": "y"}),
        endpoints(subset("10.1.0.1"), labels={"team": "a"}, uid="new-uid"),
    ):
        writes = plan.reconcile(changed, [current]).writes
        assert not writes.create and not writes.delete
        (updated,) = writes.update
        assert updated["metadata"]["name"] == "db-abcde"
        assert updated["metadata"]["resourceVersion"] == "1"
        (wanted,) = plan.desired(changed).groups.values()
        assert updated["endpoints"] == wanted


def test_changed_ports_reuse_the_slice_and_extra_slices_go() -> None:
    ep = endpoints(subset("10.1.0.1"))
    first = stored(plan.reconcile(ep, []).writes.create[0], "db-a")
    duplicate = stored(plan.reconcile(ep, []).writes.create[0], "db-b")
    writes = plan.reconcile(ep, [duplicate, first]).writes
    assert (writes.create, writes.update, writes.delete) == ([], [], [duplicate])

    moved = endpoints(subset("10.1.0.1", ports=[{"name": "http", "port": 8080}]))
    writes = plan.reconcile(moved, [first]).writes
    assert not writes.create and not writes.delete
    (updated,) = writes.update
    assert updated["metadata"]["name"] == "db-a"
    assert updated["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]


def test_no_addresses_no_slices_and_no_creates_while_deleting() -> None:
    current = stored(plan.reconcile(endpoints(subset("10.1.0.1")), []).writes.create[0], "db-a")
    assert plan.reconcile(endpoints(), [current]).writes.delete == [current]
    assert plan.reconcile(endpoints(subset()), [current]).writes.delete == [current]
    deleting = endpoints(subset("10.1.0.1"), deletionTimestamp="2024-05-01T12:00:00Z")
    assert not plan.reconcile(deleting, []).writes


def test_mirrored_slices_are_indexed_by_their_endpoints() -> None:
    body = plan.reconcile(endpoints(subset("10.1.0.1")), []).writes.create[0]
    assert plan.mirrored_key(body) == ["ns/db"]
    labels = {
        **MANAGED,
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
    }
    assert plan.mirrored_key({**body, "metadata": {**body["metadata"], "labels": labels}}) == []


def test_the_tracker_waits_for_its_writes_and_skips_their_events() -> None:
    tracker = slicesync.SliceTracker()
    a1, a2 = ({"metadata": {"name": "a", "resourceVersion": str(v)}} for v in (1, 2))
    tracker.wrote("ns/db", a2)
    assert not tracker.should_sync("ns/db", a2), "our own write, no sync waits for it"
    assert not tracker.caught_up("ns/db", [a1]), "the informer is behind"
    assert tracker.should_sync("ns/db", a2), "the event of our write queues the waiting key"
    assert tracker.caught_up("ns/db", [a2])
    tracker.wrote("ns/db", a2)
    assert tracker.should_sync("ns/db", {"metadata": {"name": "a", "resourceVersion": "3"}})
    tracker.gone("ns/db", a2)
    assert tracker.caught_up("ns/db", [])
    tracker.wrote("ns/db", a1, deleted=True)
    assert not tracker.caught_up("ns/db", [a1])
    assert tracker.caught_up("ns/db", [])
