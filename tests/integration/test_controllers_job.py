"""The Job controller in a real controller-manager process against a real apiserver, with a
stand-in kubelet (`tests/support/jobs.py`) that finishes pods as each test asks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.api import Api
from tests.support.controllers import ControllerManager, pods, run_controller_manager
from tests.support.jobs import PodRunner, condition, job_manifest, job_path
from tests.support.processes import Apiserver
from tests.support.waiting import wait_for

SUCCEED = ("Succeeded", 0)


@pytest.fixture(scope="module")
def controller_manager(
    apiserver: Apiserver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControllerManager]:
    yield from run_controller_manager(apiserver, tmp_path_factory, "job,garbagecollector", "cm-job")


def get_job(api: Api, ns: str, name: str) -> dict[str, Any]:
    r = api.get(job_path(ns, name))
    assert r.status_code == 200, r.text
    return dict(r.json())


def finished(api: Api, ns: str, name: str, type_: str) -> dict[str, Any] | None:
    job = get_job(api, ns, name)
    return job if condition(job, type_) else None


def test_completions_with_parallelism_counted_once(
    api: Api, ns: str, controller_manager: ControllerManager
) -> None:
    with PodRunner(api, ns, lambda pod: SUCCEED) as runner:
        r = api.post(job_path(ns), job_manifest("work", completions=5, parallelism=2))
        assert r.status_code == 201, r.text
        job = wait_for(lambda: finished(api, ns, "work", "Complete"), "the Job to complete", 30)
    assert not runner.errors
    status = job["status"]
    assert status["succeeded"] == 5 and status.get("failed", 0) == 0 and status["active"] == 0
    assert status["uncountedTerminatedPods"] == {} and status["completionTime"]
    met = condition(job, "SuccessCriteriaMet")
    assert met is not None and met["reason"] == "CompletionsReached"
    assert condition(job, "Complete")["message"] == "Reached expected number of succeeded pods"  # type: ignore[index]
    assert runner.created == 5 and runner.max_active <= 2
    owned = pods(api, ns, "app=work")
    assert len(owned) == 5 and all(not p["metadata"].get("finalizers") for p in owned)
    labels = owned[0]["metadata"]["labels"]
    assert labels["batch.kubernetes.io/job-name"] == "work" and labels["job-name"] == "work"


def test_backoff_limit_fails_the_job(
    api: Api, ns: str, controller_manager: ControllerManager
) -> None:
    with PodRunner(api, ns, lambda pod: ("Failed", 1)):
        api.post(job_path(ns), job_manifest("bad", backoffLimit=0))
        job = wait_for(lambda: finished(api, ns, "bad", "Failed"), "the Job to fail", 20)
    failed = condition(job, "Failed")
    assert failed is not None and failed["reason"] == "BackoffLimitExceeded"
    assert failed["message"] == "Job has reached the specified backoff limit"
    assert condition(job, "FailureTarget") is not None
    assert job["status"]["failed"] == 1 and job["status"]["active"] == 0


def test_pod_failure_policy_fail_job_and_ignore(
    api: Api, ns: str, controller_manager: ControllerManager
) -> None:
    policy = {"rules": [
        {"action": "Ignore", "onExitCodes": {"operator": "In", "values": [3]}},
        {"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "In",
                                              "values": [42]}},
    ]}  # fmt: skip
    exits = iter([3, 42])
    with PodRunner(api, ns, lambda pod: ("Failed", next(exits))):
        manifest = job_manifest(
            "policy", backoffLimit=6, podFailurePolicy=policy, parallelism=2, completions=2
        )
        assert api.post(job_path(ns), manifest).status_code == 201
        job = wait_for(lambda: finished(api, ns, "policy", "Failed"), "the Job to fail", 20)
    failed = condition(job, "Failed")
    assert failed is not None and failed["reason"] == "PodFailurePolicy"
    assert "failed with exit code 42 matching FailJob rule at index 1" in failed["message"]
    assert job["status"]["failed"] == 1, "the exit code 3 failure was ignored"


def test_indexed_job(api: Api, ns: str, controller_manager: ControllerManager) -> None:
    with PodRunner(api, ns, lambda pod: SUCCEED) as runner:
        manifest = job_manifest("idx", completions=3, parallelism=3, completionMode="Indexed")
        api.post(job_path(ns), manifest)
        job = wait_for(lambda: finished(api, ns, "idx", "Complete"), "the Job to complete", 20)
    assert job["status"]["completedIndexes"] == "0-2" and job["status"]["succeeded"] == 3
    assert runner.created == 3
    by_index = {}
    for pod in pods(api, ns, "app=idx"):
        index = pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
        assert pod["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"] == index
        assert pod["metadata"]["name"].startswith(f"idx-{index}-")
        assert pod["spec"]["hostname"] == f"idx-{index}"
        env = pod["spec"]["containers"][0]["env"]
        assert env[0]["name"] == "JOB_COMPLETION_INDEX"
        by_index[index] = pod
    assert sorted(by_index) == ["0", "1", "2"]


def test_suspend_and_resume(api: Api, ns: str, controller_manager: ControllerManager) -> None:
    with PodRunner(api, ns, lambda pod: None) as runner:
        api.post(job_path(ns), job_manifest("sus", parallelism=2, completions=2, suspend=True))
        job = wait_for(lambda: finished(api, ns, "sus", "Suspended"), "Suspended", 10)
        assert job["status"].get("startTime") is None and runner.created == 0
        api.patch(job_path(ns, "sus"), {"spec": {"suspend": False}}, "application/merge-patch+json")
        wait_for(lambda: runner.created == 2, "2 pods after resuming", 10)
        resumed = [c for c in get_job(api, ns, "sus")["status"]["conditions"]
                   if c["type"] == "Suspended"]  # fmt: skip
        assert resumed and resumed[0]["status"] == "False" and resumed[0]["reason"] == "JobResumed"
        api.patch(job_path(ns, "sus"), {"spec": {"suspend": True}}, "application/merge-patch+json")
        wait_for(lambda: get_job(api, ns, "sus")["status"].get("active") == 0, "pods deleted", 10)


def test_active_deadline(api: Api, ns: str, controller_manager: ControllerManager) -> None:
    with PodRunner(api, ns, lambda pod: None):
        api.post(job_path(ns), job_manifest("slow", activeDeadlineSeconds=1))
        job = wait_for(lambda: finished(api, ns, "slow", "Failed"), "DeadlineExceeded", 15)
    assert condition(job, "Failed")["reason"] == "DeadlineExceeded"  # type: ignore[index]
    wait_for(lambda: not pods(api, ns, "app=slow"), "the active pod to be deleted", 10)


def test_invalid_jobs_are_422(api: Api, ns: str) -> None:
    r = api.post(job_path(ns), job_manifest("neg", completions=-1))
    assert r.status_code == 422, r.text
    causes = r.json()["details"]["causes"]
    assert {
        "reason": "FieldValueInvalid",
        "field": "spec.completions",
        "message": "Invalid value: -1: must be greater than or equal to 0",
    } in causes
    manifest = job_manifest("always")
    manifest["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    r = api.post(job_path(ns), manifest)
    assert r.status_code == 422
    assert r.json()["details"]["causes"][0]["message"] == (
        'Unsupported value: "Always": supported values: "OnFailure", "Never"'
    )


def test_deleting_a_running_job_releases_and_removes_its_pods(
    api: Api, ns: str, controller_manager: ControllerManager
) -> None:
    with PodRunner(api, ns, lambda pod: None):
        api.post(job_path(ns), job_manifest("gone", parallelism=2, completions=4))
        wait_for(lambda: len(pods(api, ns, "app=gone")) == 2, "2 running pods")
        r = api.delete(job_path(ns, "gone"), {"propagationPolicy": "Background"})
        assert r.status_code == 200, r.text
        wait_for(lambda: not pods(api, ns, "app=gone"), "its pods deleted, finalizers released", 15)
