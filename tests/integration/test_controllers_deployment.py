"""The Deployment controller (with the ReplicaSet controller) in a real controller-manager,
with real kubectl reading the rollout."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.api import Api, deployment_manifest
from tests.support.controllers import (
    ControllerManager,
    FakeKubelet,
    is_ready,
    live,
    pods,
    run_controller_manager,
)
from tests.support.processes import Apiserver
from tests.support.waiting import wait_for

MERGE = "application/merge-patch+json"


@pytest.fixture(scope="module")
def controller_manager(
    apiserver: Apiserver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControllerManager]:
    yield from run_controller_manager(apiserver, tmp_path_factory)


@pytest.fixture()
def kubeconfig_path(apiserver: Apiserver, tmp_path: Path) -> Path:
    return apiserver.write_kubeconfig(tmp_path / "kubeconfig")


def d_path(ns: str, name: str = "") -> str:
    return f"/apis/apps/v1/namespaces/{ns}/deployments" + (f"/{name}" if name else "")


def rs_list(api: Api, ns: str) -> list[dict[str, Any]]:
    return list(api.get(f"/apis/apps/v1/namespaces/{ns}/replicasets").json()["items"])


def deployment(
    name: str, replicas: int, image: str, strategy: dict | None = None, **labels: str
) -> dict[str, Any]:
    manifest = deployment_manifest(name, replicas, image)
    if strategy:
        manifest["spec"]["strategy"] = strategy
    if labels:
        manifest["spec"]["template"]["metadata"]["labels"].update(labels)
    return manifest


def status(api: Api, ns: str, name: str) -> dict[str, Any]:
    return dict(api.get(d_path(ns, name)).json().get("status") or {})


def complete(api: Api, ns: str, name: str, replicas: int) -> bool:
    d = api.get(d_path(ns, name)).json()
    s = d.get("status") or {}
    return (
        s.get("observedGeneration") == d["metadata"]["generation"]
        and s.get("updatedReplicas") == replicas
        and s.get("replicas") == replicas
        and s.get("availableReplicas") == replicas
    )


def condition(s: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in s.get("conditions") or [] if c["type"] == type_)


def set_image(api: Api, ns: str, name: str, image: str) -> None:
    body = {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": image}]}}}}
    r = api.patch(d_path(ns, name), body, "application/strategic-merge-patch+json")
    assert r.status_code == 200, r.text


def kubectl(kubeconfig: Path, ns: str, *args: str, timeout: float = 30) -> str:
    result = subprocess.run(
        ["kubectl", f"--kubeconfig={kubeconfig}", "-n", ns, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def images(pod: dict[str, Any]) -> str:
    return str(pod["spec"]["containers"][0]["image"])


def test_rolling_update_keeps_every_replica_ready(
    api: Api, ns: str, controller_manager: ControllerManager
) -> None:
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    with FakeKubelet(api, ns) as kubelet:
        assert api.post(d_path(ns), deployment("web", 3, "nginx:1", strategy)).status_code == 201
        wait_for(lambda: complete(api, ns, "web", 3), "v1 rolled out")
        start = len(kubelet.history)
        set_image(api, ns, "web", "nginx:2")
        wait_for(lambda: complete(api, ns, "web", 3), "v2 rolled out", timeout=20)
        assert not kubelet.errors, kubelet.errors
        for snapshot in kubelet.history[start:]:
            ready = [p for p in live(list(snapshot.values())) if is_ready(p)]
            assert len(ready) >= 3, f"only {len(ready)} ready pods during the rollout"
            assert len(live(list(snapshot.values()))) <= 4, "maxSurge=1 exceeded"
    current = live(pods(api, ns, "app=web"))
    assert len(current) == 3 and {images(p) for p in current} == {"nginx:2"}
    rss = rs_list(api, ns)
    assert len(rss) == 2
    by_revision = {
        r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: r for r in rss
    }
    assert by_revision["1"]["spec"]["replicas"] == 0 and by_revision["2"]["spec"]["replicas"] == 3
    assert all(r["metadata"]["name"].startswith("web-") for r in rss)
    assert all("pod-template-hash" in r["spec"]["selector"]["matchLabels"] for r in rss)
    d = api.get(d_path(ns, "web")).json()
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    s = d["status"]
    assert condition(s, "Available")["status"] == "True"
    assert condition(s, "Progressing")["reason"] == "NewReplicaSetAvailable"
    events = api.get(f"/api/v1/namespaces/{ns}/events").json()["items"]
    assert any(e["reason"] == "ScalingReplicaSet" for e in events)


def test_recreate_stops_old_pods_first(
    api: Api, ns: str, controller_manager: ControllerManager
) -> None:
    with FakeKubelet(api, ns) as kubelet:
        api.post(d_path(ns), deployment("rec", 2, "nginx:1", {"type": "Recreate"}))
        wait_for(lambda: complete(api, ns, "rec", 2), "v1 rolled out")
        start = len(kubelet.history)
        set_image(api, ns, "rec", "nginx:2")
        wait_for(lambda: complete(api, ns, "rec", 2), "v2 rolled out", timeout=20)
        for snapshot in kubelet.history[start:]:
            assert len({images(p) for p in snapshot.values()}) <= 1, "old and new pods together"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_kubectl_rollout_status_undo_and_history(
    api: Api, ns: str, controller_manager: ControllerManager, kubeconfig_path: Path
) -> None:
    with FakeKubelet(api, ns):
        api.post(d_path(ns), deployment("app", 2, "nginx:1"))
        out = kubectl(kubeconfig_path, ns, "rollout", "status", "deployment/app", "--timeout=20s")
        assert 'deployment "app" successfully rolled out' in out
        kubectl(kubeconfig_path, ns, "set", "image", "deployment/app", "web=nginx:2")
        out = kubectl(kubeconfig_path, ns, "rollout", "status", "deployment/app", "--timeout=20s")
        assert "successfully rolled out" in out
        first = {r["metadata"]["name"] for r in rss_with_revision(api, ns, "1")}
        kubectl(kubeconfig_path, ns, "rollout", "undo", "deployment/app")
        kubectl(kubeconfig_path, ns, "rollout", "status", "deployment/app", "--timeout=20s")
        wait_for(
            lambda: (
                {images(p) for p in live(pods(api, ns, "app=app"))} == {"nginx:1"}
                and complete(api, ns, "app", 2)
            ),
            "rolled back to nginx:1",
        )
        assert len(rs_list(api, ns)) == 2, "the old ReplicaSet is reused"
        assert {r["metadata"]["name"] for r in rss_with_revision(api, ns, "3")} == first
        history = kubectl(kubeconfig_path, ns, "rollout", "history", "deployment/app")
        assert "2" in history and "3" in history


def rss_with_revision(api: Api, ns: str, revision: str) -> list[dict[str, Any]]:
    return [
        r
        for r in rs_list(api, ns)
        if r["metadata"]["annotations"].get("deployment.kubernetes.io/revision") == revision
    ]


def test_paused_deployment_does_not_roll_out(
    api: Api, ns: str, controller_manager: ControllerManager
) -> None:
    with FakeKubelet(api, ns):
        api.post(d_path(ns), deployment("p", 2, "nginx:1"))
        wait_for(lambda: complete(api, ns, "p", 2), "rolled out")
        api.patch(d_path(ns, "p"), {"spec": {"paused": True}}, MERGE)
        wait_for(
            lambda: condition(status(api, ns, "p"), "Progressing")["reason"] == "DeploymentPaused",
            "Progressing=Unknown DeploymentPaused",
        )
        set_image(api, ns, "p", "nginx:2")
        api.patch(d_path(ns, "p"), {"spec": {"replicas": 3}}, MERGE)
        wait_for(lambda: len(live(pods(api, ns, "app=p"))) == 3, "scaled while paused")
        assert len(rs_list(api, ns)) == 1, "no new ReplicaSet while paused"
        assert {images(p) for p in live(pods(api, ns, "app=p"))} == {"nginx:1"}
        api.patch(d_path(ns, "p"), {"spec": {"paused": False}}, MERGE)
        wait_for(
            lambda: (
                complete(api, ns, "p", 3)
                and {images(p) for p in live(pods(api, ns, "app=p"))} == {"nginx:2"}
            ),
            "rolled out after resume",
            timeout=20,
        )


def test_scale_subresource_and_progress_deadline(
    api: Api, ns: str, controller_manager: ControllerManager
) -> None:
    manifest = deployment("stuck", 1, "nginx:1", ready="never")
    manifest["spec"]["progressDeadlineSeconds"] = 2
    with FakeKubelet(api, ns):
        api.post(d_path(ns), manifest)
        wait_for(
            lambda: (
                condition(status(api, ns, "stuck"), "Progressing")["reason"]
                == "ProgressDeadlineExceeded"
            ),
            "the progress deadline exceeded",
            timeout=15,
        )
        s = status(api, ns, "stuck")
        assert condition(s, "Progressing")["status"] == "False"
        assert condition(s, "Available")["status"] == "False"
        scale = api.get(d_path(ns, "stuck") + "/scale").json()
        scale["spec"]["replicas"] = 3
        assert api.put(d_path(ns, "stuck") + "/scale", scale).status_code == 200
        wait_for(lambda: len(live(pods(api, ns, "app=stuck"))) == 3, "scaled through /scale")


def test_history_limit(api: Api, ns: str, controller_manager: ControllerManager) -> None:
    manifest = deployment("h", 1, "nginx:1")
    manifest["spec"]["revisionHistoryLimit"] = 1
    with FakeKubelet(api, ns):
        api.post(d_path(ns), manifest)
        for version in (2, 3, 4):
            wait_for(lambda: complete(api, ns, "h", 1), "rolled out")
            set_image(api, ns, "h", f"nginx:{version}")
        wait_for(
            lambda: complete(api, ns, "h", 1) and len(rs_list(api, ns)) == 2,
            "one old ReplicaSet kept",
            timeout=20,
        )
    revisions = sorted(
        int(r["metadata"]["annotations"]["deployment.kubernetes.io/revision"])
        for r in rs_list(api, ns)
    )
    assert revisions == [3, 4]
