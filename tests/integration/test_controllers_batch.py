"""CronJobs, the TTL-after-finished controller, the pod garbage collector, disruption budgets
with the eviction API, and ReplicationControllers, in a real controller-manager process
against a real apiserver; kubectl 1.32 as the client where it has a verb for them."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
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
from tests.support.jobs import PodRunner, condition, job_manifest, job_path
from tests.support.processes import Apiserver
from tests.support.waiting import wait_for

CONTROLLERS = (
    "job,cronjob,ttl-after-finished,podgc,disruption,replicationcontroller,garbagecollector"
)
MERGE = "application/merge-patch+json"


@pytest.fixture(scope="module")
def controller_manager(
    apiserver: Apiserver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControllerManager]:
    yield from run_controller_manager(apiserver, tmp_path_factory, CONTROLLERS, "cm-batch")


def cronjob_path(ns: str, name: str = "") -> str:
    return f"/apis/batch/v1/namespaces/{ns}/cronjobs" + (f"/{name}" if name else "")


def pdb_path(ns: str, name: str = "") -> str:
    return f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets" + (f"/{name}" if name else "")


def rc_path(ns: str, name: str = "") -> str:
    return f"/api/v1/namespaces/{ns}/replicationcontrollers" + (f"/{name}" if name else "")


def jobs(api: Api, ns: str) -> list[dict[str, Any]]:
    return list(api.get(job_path(ns)).json()["items"])


def events(api: Api, ns: str, reason: str) -> list[dict[str, Any]]:
    return [
        e
        for e in api.get(f"/api/v1/namespaces/{ns}/events").json()["items"]
        if e.get("reason") == reason
    ]


def test_cronjob_runs_its_job_and_records_it(
    api: Api, ns: str, controller_manager: ControllerManager
) -> None:
    template = job_manifest("tick")["spec"]
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "tick"},
        "spec": {"schedule": "@every 1s", "jobTemplate": {"spec": template}},
    }
    with PodRunner(api, ns, lambda pod: ("Succeeded", 0)):
        r = api.post(cronjob_path(ns), cronjob)
        assert r.status_code == 201, r.text
        first = wait_for(lambda: jobs(api, ns), "the first scheduled Job", 10)[0]
        assert first["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
        assert "batch.kubernetes.io/cronjob-scheduled-timestamp" in first["metadata"]["annotations"]
        wait_for(lambda: events(api, ns, "SawCompletedJob"), "the Job seen complete", 15)
        api.patch(cronjob_path(ns, "tick"), {"spec": {"suspend": True}}, MERGE)
    status = api.get(cronjob_path(ns, "tick")).json()["status"]
    assert status["lastScheduleTime"] and status["lastSuccessfulTime"]
    assert events(api, ns, "SuccessfulCreate")


def test_invalid_cronjob_schedule_is_422(api: Api, ns: str) -> None:
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "bad"},
        "spec": {
            "schedule": "61 * * * *",
            "timeZone": "Mars/Base",
            "jobTemplate": {"spec": job_manifest("bad")["spec"]},
        },
    }
    r = api.post(cronjob_path(ns), cronjob)
    assert r.status_code == 422, r.text
    fields = {c["field"]: c["message"] for c in r.json()["details"]["causes"]}
    assert fields["spec.schedule"].startswith('Invalid value: "61 * * * *"')
    assert fields["spec.timeZone"] == 'Invalid value: "Mars/Base": unknown time zone Mars/Base'


def test_ttl_after_finished_deletes_the_job_and_its_pods(
    api: Api, ns: str, controller_manager: ControllerManager
) -> None:
    with PodRunner(api, ns, lambda pod: ("Succeeded", 0)):
        api.post(job_path(ns), job_manifest("brief", ttlSecondsAfterFinished=1))
        wait_for(lambda: condition(api.get(job_path(ns, "brief")).json(), "Complete"), "Complete")
        wait_for(lambda: api.get(job_path(ns, "brief")).status_code == 404, "TTL deletion", 15)
        wait_for(lambda: not pods(api, ns, "app=brief"), "its pods collected", 15)


def test_podgc_deletes_pods_of_a_node_that_does_not_exist(
    api: Api, ns: str, controller_manager: ControllerManager
) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "stray"},
        "spec": {
            "nodeName": "no-such-node",
            "containers": [{"name": "c", "image": "minik8s/busybox"}],
        },
    }
    assert api.post(f"/api/v1/namespaces/{ns}/pods", pod).status_code == 201
    wait_for(
        lambda: api.get(f"/api/v1/namespaces/{ns}/pods/stray").status_code == 404,
        "podgc to delete the pod of a missing node (after its 2s quarantine)",
        20,
    )


def test_disruption_budget_and_eviction(
    api: Api, ns: str, controller_manager: ControllerManager
) -> None:
    rc = {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": "db"},
        "spec": {
            "replicas": 2,
            "template": {
                "metadata": {"labels": {"app": "db"}},
                "spec": {"containers": [{"name": "c", "image": "minik8s/busybox"}]},
            },
        },
    }
    r = api.post(rc_path(ns), rc)
    assert r.status_code == 201, r.text
    assert r.json()["spec"]["selector"] == {"app": "db"}, "the selector defaults to the labels"
    wait_for(lambda: len(live(pods(api, ns, "app=db"))) == 2, "2 pods of the RC")
    make_all_ready(api, ns, "app=db")
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "db"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "db"}}},
    }
    assert api.post(pdb_path(ns), pdb).status_code == 201

    def budget() -> dict[str, Any]:
        return dict(api.get(pdb_path(ns, "db")).json().get("status") or {})

    wait_for(lambda: budget().get("currentHealthy") == 2, "the budget's status", 10)
    status = budget()
    assert (status["desiredHealthy"], status["expectedPods"], status["disruptionsAllowed"]) == (
        2,
        2,
        0,
    )
    assert status["conditions"][0]["reason"] == "InsufficientPods"
    victim = live(pods(api, ns, "app=db"))[0]["metadata"]["name"]
    eviction = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": victim, "namespace": ns},
    }
    path = f"/api/v1/namespaces/{ns}/pods/{victim}/eviction"
    r = api.post(path, eviction)
    assert r.status_code == 429, r.text
    body = r.json()
    assert body["reason"] == "TooManyRequests"
    assert body["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    assert body["details"]["causes"][0] == {
        "reason": "DisruptionBudget",
        "message": "The disruption budget db needs 2 healthy pods and has 2 currently",
    }
    api.patch(pdb_path(ns, "db"), {"spec": {"minAvailable": 1}}, MERGE)
    wait_for(lambda: budget().get("disruptionsAllowed") == 1, "one disruption allowed", 10)
    r = api.post(path, eviction)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "Success"
    assert api.get(f"/api/v1/namespaces/{ns}/pods/{victim}").status_code == 404
    other = next(  # the ready one, not the pending replacement (pending pods go regardless)
        p for p in live(pods(api, ns, "app=db")) if is_ready(p) and p["metadata"]["name"] != victim
    )
    r = api.post(
        f"/api/v1/namespaces/{ns}/pods/{other['metadata']['name']}/eviction",
        {**eviction, "metadata": {"name": other["metadata"]["name"]}},
    )
    assert r.status_code == 429, "the budget is spent until the replacement is ready"
    r = api.post(path.replace(victim, "nope"), {**eviction, "metadata": {"name": "other"}})
    assert r.status_code == 400


def test_an_evicted_pod_gets_the_disruption_target_condition(api: Api, ns: str) -> None:
    bound = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "bound"},
        "spec": {"nodeName": "no-kubelet", "containers": [{"name": "c", "image": "busybox"}]},
    }
    assert api.post(f"/api/v1/namespaces/{ns}/pods", bound).status_code == 201
    r = api.post(
        f"/api/v1/namespaces/{ns}/pods/bound/eviction",
        {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "bound"}},
    )
    assert r.status_code == 201, r.text
    pod = api.get(f"/api/v1/namespaces/{ns}/pods/bound").json()  # no kubelet finishes it
    assert pod["metadata"]["deletionTimestamp"]
    target = [c for c in pod["status"]["conditions"] if c["type"] == "DisruptionTarget"]
    assert target[0]["reason"] == "EvictionByEvictionAPI", pod["status"]
    assert target[0]["message"] == "Eviction API: evicting"
    api.delete(f"/api/v1/namespaces/{ns}/pods/bound", {"gracePeriodSeconds": 0})


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_kubectl_jobs_cronjobs_rcs(
    api: Api, ns: str, kubeconfig: Path, controller_manager: ControllerManager
) -> None:
    def kubectl(*args: str) -> str:
        result = subprocess.run(
            ["kubectl", "--kubeconfig", str(kubeconfig), "-n", ns, *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, f"kubectl {' '.join(args)}:\n{result.stderr}"
        return result.stdout

    with PodRunner(api, ns, lambda pod: ("Succeeded", 0)):
        out = kubectl("create", "job", "hello", "--image=minik8s/busybox", "--", "echo", "hi")
        assert out.strip() == "job.batch/hello created"
        out = kubectl("wait", "--for=condition=complete", "job/hello", "--timeout=20s")
        assert out.strip() == "job.batch/hello condition met"
        table = kubectl("get", "jobs").splitlines()
        assert table[0].split() == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
        assert table[1].split()[:3] == ["hello", "Complete", "1/1"]
        out = kubectl(
            "create",
            "cronjob",
            "nightly",
            "--image=minik8s/busybox",
            "--schedule=0 3 * * *",
            "--",
            "true",
        )
        assert out.strip() == "cronjob.batch/nightly created"
        table = kubectl("get", "cj").splitlines()
        assert table[0].split() == [
            "NAME",
            "SCHEDULE",
            "TIMEZONE",
            "SUSPEND",
            "ACTIVE",
            "LAST",
            "SCHEDULE",
            "AGE",
        ]
        assert table[1].split()[:7] == ["nightly", "0", "3", "*", "*", "*", "<none>"]
        out = kubectl("create", "job", "manual", "--from=cronjob/nightly")
        assert out.strip() == "job.batch/manual created"
        kubectl("wait", "--for=condition=complete", "job/manual", "--timeout=20s")
        manual = api.get(job_path(ns, "manual")).json()
        assert manual["metadata"]["ownerReferences"][0]["name"] == "nightly"
    rc = {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": "legacy"},
        "spec": {
            "replicas": 1,
            "selector": {"app": "legacy"},
            "template": {
                "metadata": {"labels": {"app": "legacy"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
        },
    }
    assert api.post(rc_path(ns), rc).status_code == 201
    assert kubectl("scale", "rc", "legacy", "--replicas=3").strip() == (
        "replicationcontroller/legacy scaled"
    )
    wait_for(lambda: len(live(pods(api, ns, "app=legacy"))) == 3, "the RC scaled to 3")
    table = kubectl("get", "rc", "-o", "wide").splitlines()
    assert table[0].split() == [
        "NAME",
        "DESIRED",
        "CURRENT",
        "READY",
        "AGE",
        "CONTAINERS",
        "IMAGES",
        "SELECTOR",
    ]
    assert table[1].split()[:3] == ["legacy", "3", "3"] and table[1].split()[-1] == "app=legacy"
    api.post(
        pdb_path(ns),
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "legacy"},
            "spec": {"maxUnavailable": "50%", "selector": {"matchLabels": {"app": "legacy"}}},
        },
    )
    table = kubectl("get", "pdb").splitlines()
    assert table[0].split() == [
        "NAME",
        "MIN",
        "AVAILABLE",
        "MAX",
        "UNAVAILABLE",
        "ALLOWED",
        "DISRUPTIONS",
        "AGE",
    ]
    assert table[1].split()[:3] == ["legacy", "N/A", "50%"]
