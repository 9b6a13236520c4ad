"""The ReplicaSet controller in a real controller-manager process against a real apiserver."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.api import Api
from tests.support.controllers import (
    ControllerManager,
    is_ready,
    live,
    make_all_ready,
    pods,
    run_controller_manager,
)
from tests.support.processes import Apiserver
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def controller_manager(
    apiserver: Apiserver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControllerManager]:
    yield from run_controller_manager(apiserver, tmp_path_factory)


def rs_manifest(name: str, replicas: int, **labels: str) -> dict[str, Any]:
    labels = labels or {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            },
        },
    }


def rs_path(ns: str, name: str = "") -> str:
    return f"/apis/apps/v1/namespaces/{ns}/replicasets" + (f"/{name}" if name else "")


def owned_by(pod: dict[str, Any], uid: str) -> bool:
    refs = pod["metadata"].get("ownerReferences") or []
    return any(r.get("uid") == uid and r.get("controller") for r in refs)


def test_scale_up_down_and_status(api: Api, ns: str, controller_manager: ControllerManager) -> None:
    r = api.post(rs_path(ns), rs_manifest("web", 3))
    assert r.status_code == 201, r.text
    uid = r.json()["metadata"]["uid"]
    wait_for(lambda: len(live(pods(api, ns, "app=web"))) == 3, "3 pods")
    created = live(pods(api, ns, "app=web"))
    assert all(owned_by(p, uid) for p in created)
    assert all(p["metadata"]["name"].startswith("web-") for p in created)
    make_all_ready(api, ns, "app=web")

    def status() -> dict[str, Any]:
        return dict(api.get(rs_path(ns, "web")).json().get("status") or {})

    wait_for(
        lambda: status().get("readyReplicas") == 3 and status().get("availableReplicas") == 3,
        "status readyReplicas=3",
    )
    assert status()["replicas"] == 3 and status()["fullyLabeledReplicas"] == 3
    assert status()["observedGeneration"] == 1

    r = api.patch(rs_path(ns, "web"), {"spec": {"replicas": 1}}, "application/merge-patch+json")
    assert r.status_code == 200, r.text
    wait_for(lambda: len(live(pods(api, ns, "app=web"))) == 1, "scaled down to 1")
    wait_for(
        lambda: status().get("replicas") == 1 and status().get("observedGeneration") == 2,
        "status of 1 replica",
    )

    events = api.get(f"/api/v1/namespaces/{ns}/events").json()["items"]
    reasons = {e["reason"] for e in events}
    assert {"SuccessfulCreate", "SuccessfulDelete"} <= reasons


def test_scale_down_prefers_not_ready_pods(
    api: Api, ns: str, controller_manager: ControllerManager
) -> None:
    api.post(rs_path(ns), rs_manifest("pick", 3))
    wait_for(lambda: len(live(pods(api, ns, "app=pick"))) == 3, "3 pods")
    from tests.support.controllers import set_pod_status

    all_pods = live(pods(api, ns, "app=pick"))
    for pod in all_pods[:2]:
        set_pod_status(api, ns, pod, ready=True)
    not_ready = all_pods[2]["metadata"]["name"]
    api.patch(rs_path(ns, "pick"), {"spec": {"replicas": 2}}, "application/merge-patch+json")
    wait_for(lambda: len(live(pods(api, ns, "app=pick"))) == 2, "scaled down to 2")
    remaining = {p["metadata"]["name"] for p in live(pods(api, ns, "app=pick"))}
    assert not_ready not in remaining
    assert all(is_ready(p) for p in live(pods(api, ns, "app=pick")))


def test_adopts_orphans_and_releases_relabelled(
    api: Api, ns: str, controller_manager: ControllerManager
) -> None:
    orphan = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "orphan", "labels": {"app": "adopt"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }
    assert api.post(f"/api/v1/namespaces/{ns}/pods", orphan).status_code == 201
    r = api.post(rs_path(ns), rs_manifest("adopt", 2))
    uid = r.json()["metadata"]["uid"]
    wait_for(lambda: len(live(pods(api, ns, "app=adopt"))) == 2, "2 pods (one adopted)")
    adopted = api.get(f"/api/v1/namespaces/{ns}/pods/orphan").json()
    wait_for(
        lambda: owned_by(api.get(f"/api/v1/namespaces/{ns}/pods/orphan").json(), uid),
        "the orphan adopted",
    )
    assert adopted["metadata"]["name"] == "orphan"

    r = api.patch(
        f"/api/v1/namespaces/{ns}/pods/orphan",
        {"metadata": {"labels": {"app": "elsewhere"}}},
        "application/merge-patch+json",
    )
    assert r.status_code == 200, r.text
    wait_for(
        lambda: not owned_by(api.get(f"/api/v1/namespaces/{ns}/pods/orphan").json(), uid),
        "the relabelled pod released",
    )
    wait_for(lambda: len(live(pods(api, ns, "app=adopt"))) == 2, "a replacement created")


def test_never_over_creates(api: Api, ns: str, controller_manager: ControllerManager) -> None:
    """Many quick edits of spec.replicas end with exactly the last count, never more."""
    api.post(rs_path(ns), rs_manifest("burst", 1))
    for replicas in (5, 2, 8, 3, 6):
        api.patch(
            rs_path(ns, "burst"), {"spec": {"replicas": replicas}}, "application/merge-patch+json"
        )
    wait_for(lambda: len(live(pods(api, ns, "app=burst"))) == 6, "6 pods")
    seen = []
    for _ in range(10):
        seen.append(len(live(pods(api, ns, "app=burst"))))
    assert max(seen) == 6
