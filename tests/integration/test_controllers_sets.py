"""DaemonSets, StatefulSets and the volume controllers in a real controller-manager process
against a real apiserver (pods are marked Running and Ready by a stand-in kubelet)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.api import Api
from tests.support.controllers import (
    ControllerManager,
    FakeKubelet,
    live,
    pods,
    run_controller_manager,
)
from tests.support.processes import Apiserver
from tests.support.scheduling import node
from tests.support.waiting import wait_for

MERGE = "application/merge-patch+json"


@pytest.fixture(scope="module")
def controller_manager(
    apiserver: Apiserver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControllerManager]:
    storage = tmp_path_factory.mktemp("cm-sets-storage")
    # no node lifecycle: the test's nodes have no kubelet and would be tainted unreachable
    yield from run_controller_manager(
        apiserver, tmp_path_factory, "*,-nodelifecycle", "cm-sets", [f"--local-path-root={storage}"]
    )


def apps(ns: str, plural: str, name: str = "") -> str:
    return f"/apis/apps/v1/namespaces/{ns}/{plural}" + (f"/{name}" if name else "")


def core(ns: str, plural: str, name: str = "") -> str:
    return f"/api/v1/namespaces/{ns}/{plural}" + (f"/{name}" if name else "")


def status_of(api: Api, path: str) -> dict[str, Any]:
    return dict(api.get(path).json().get("status") or {})


def events_for(api: Api, ns: str, name: str) -> list[tuple[str, str]]:
    items = api.get(core(ns, "events"), params={"fieldSelector": f"involvedObject.name={name}"})
    return [(e["reason"], e["message"]) for e in items.json()["items"]]


def test_daemonset_one_pod_per_node_follows_nodes_and_rolls(
    api: Api, ns: str, controller_manager: ControllerManager
) -> None:
    group = uuid.uuid4().hex[:8]
    names = [f"ds-{group}-{i}" for i in range(3)]
    for name in names[:2]:
        assert api.post("/api/v1/nodes", node(name, labels={"ds-group": group})).status_code == 201
    ds = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent"},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {
                "metadata": {"labels": {"app": "agent"}},
                "spec": {
                    "nodeSelector": {"ds-group": group},
                    "containers": [{"name": "c", "image": "busybox:1"}],
                },
            },
        },
    }
    with FakeKubelet(api, ns):
        assert api.post(apps(ns, "daemonsets"), ds).status_code == 201

        def targets() -> list[str]:
            return sorted(
                p["spec"]["affinity"]["nodeAffinity"][
                    "requiredDuringSchedulingIgnoredDuringExecution"
                ]["nodeSelectorTerms"][0]["matchFields"][0]["values"][0]
                for p in live(pods(api, ns, "app=agent"))
            )

        wait_for(lambda: targets() == names[:2], "one daemon pod per labelled node")
        path = apps(ns, "daemonsets", "agent")
        wait_for(lambda: status_of(api, path).get("numberAvailable") == 2, "2 available")
        status = status_of(api, path)
        assert status["desiredNumberScheduled"] == status["currentNumberScheduled"] == 2
        assert status["updatedNumberScheduled"] == 2 and status["observedGeneration"] == 1

        assert (
            api.post("/api/v1/nodes", node(names[2], labels={"ds-group": group})).status_code == 201
        )
        wait_for(lambda: targets() == names, "a pod on the new node")
        assert api.delete(f"/api/v1/nodes/{names[0]}").status_code == 200
        wait_for(lambda: targets() == names[1:], "the removed node's pod gone")

        image = {
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox:2"}]}}}
        }
        assert api.patch(path, image, MERGE).status_code == 200

        def rolled() -> bool:
            s = status_of(api, path)
            current = live(pods(api, ns, "app=agent"))
            return (
                s.get("observedGeneration") == 2
                and s.get("updatedNumberScheduled") == 2
                and s.get("numberAvailable") == 2
                and len(current) == 2
                and all(p["spec"]["containers"][0]["image"] == "busybox:2" for p in current)
            )

        wait_for(rolled, "the rolling update to finish", timeout=20)
    revisions = api.get(apps(ns, "controllerrevisions"), params={"labelSelector": "app=agent"})
    numbers = sorted(r["revision"] for r in revisions.json()["items"])
    assert numbers == [1, 2]
    for name in names[1:]:
        api.delete(f"/api/v1/nodes/{name}")


def sts_manifest(replicas: int, cls: str | None = None) -> dict[str, Any]:
    claim_spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "1Gi"}},
    }
    if cls is not None:
        claim_spec["storageClassName"] = cls
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "serviceName": "web",
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            },
            "volumeClaimTemplates": [{"metadata": {"name": "www"}, "spec": claim_spec}],
        },
    }


def test_statefulset_ordered_pods_with_claims(
    api: Api, ns: str, controller_manager: ControllerManager
) -> None:
    path = apps(ns, "statefulsets", "web")
    # without a kubelet, web-0 never becomes ready: web-1 must wait
    assert api.post(apps(ns, "statefulsets"), sts_manifest(2)).status_code == 201
    wait_for(lambda: [p["metadata"]["name"] for p in pods(api, ns)] == ["web-0"], "web-0 alone")
    web0 = api.get(core(ns, "pods", "web-0")).json()
    assert web0["spec"]["hostname"] == "web-0" and web0["spec"]["subdomain"] == "web"
    assert web0["metadata"]["labels"]["apps.kubernetes.io/pod-index"] == "0"
    claim = api.get(core(ns, "persistentvolumeclaims", "www-web-0")).json()
    assert claim["spec"]["storageClassName"] == "local-path"  # the default class, by admission
    assert claim["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]
    wait_for(
        lambda: (
            ("WaitForFirstConsumer", "waiting for first consumer to be created before binding")
            in events_for(api, ns, "www-web-0")
        ),
        "the claim's Event",
    )
    with FakeKubelet(api, ns):
        wait_for(lambda: len(live(pods(api, ns))) == 2, "web-1 once web-0 is ready")
        wait_for(lambda: status_of(api, path).get("readyReplicas") == 2, "2 ready")
        status = status_of(api, path)
        assert status["currentRevision"] == status["updateRevision"]
        assert api.patch(path, {"spec": {"replicas": 1}}, MERGE).status_code == 200
        wait_for(
            lambda: [p["metadata"]["name"] for p in live(pods(api, ns))] == ["web-0"],
            "scaled down to web-0",
        )
    claims = api.get(core(ns, "persistentvolumeclaims")).json()["items"]
    assert sorted(c["metadata"]["name"] for c in claims) == ["www-web-0", "www-web-1"]  # Retain
    bad = sts_manifest(1)
    bad["metadata"]["name"] = "bad"
    bad["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    r = api.post(apps(ns, "statefulsets"), bad)
    assert r.status_code == 422, r.text
    assert r.json()["details"]["causes"][0]["field"] == "spec.template.metadata.labels"


def test_static_volume_binding_protection_and_unknown_class(
    api: Api, ns: str, controller_manager: ControllerManager
) -> None:
    pv_name = f"pv-{uuid.uuid4().hex[:8]}"
    pv = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": pv_name},
        "spec": {
            "capacity": {"storage": "2Gi"},
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": f"manual-{pv_name}",
            "hostPath": {"path": "/tmp/x"},
        },
    }
    assert api.post("/api/v1/persistentvolumes", pv).status_code == 201
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data"},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": f"manual-{pv_name}",
            "resources": {"requests": {"storage": "1Gi"}},
        },
    }
    assert api.post(core(ns, "persistentvolumeclaims"), claim).status_code == 201
    claim_path = core(ns, "persistentvolumeclaims", "data")
    wait_for(lambda: status_of(api, claim_path).get("phase") == "Bound", "the claim bound")
    assert api.get(claim_path).json()["spec"]["volumeName"] == pv_name
    pv_path = f"/api/v1/persistentvolumes/{pv_name}"
    wait_for(lambda: status_of(api, pv_path).get("phase") == "Bound", "the volume bound")
    user = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "user"},
        "spec": {
            "nodeName": "somewhere",
            "containers": [{"name": "c", "image": "x"}],
            "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}],
        },
    }
    assert api.post(core(ns, "pods"), user).status_code == 201
    assert api.delete(claim_path).status_code == 200
    assert api.get(claim_path).json()["metadata"]["deletionTimestamp"]  # held by pvc-protection
    api.delete(core(ns, "pods", "user"), params={"gracePeriodSeconds": "0"})
    wait_for(lambda: api.get(claim_path).status_code == 404, "the claim gone once unused")
    wait_for(lambda: status_of(api, pv_path).get("phase") == "Released", "the volume released")
    assert api.delete(pv_path).status_code == 200
    wait_for(lambda: api.get(pv_path).status_code == 404, "the released volume deleted")

    lost = {
        **claim,
        "metadata": {"name": "lost"},
        "spec": {**claim["spec"], "storageClassName": "no-such-class"},
    }
    assert api.post(core(ns, "persistentvolumeclaims"), lost).status_code == 201
    wait_for(
        lambda: (
            ("ProvisioningFailed", 'storageclass.storage.k8s.io "no-such-class" not found')
            in events_for(api, ns, "lost")
        ),
        "a ProvisioningFailed Event",
    )
    assert status_of(api, core(ns, "persistentvolumeclaims", "lost"))["phase"] == "Pending"
