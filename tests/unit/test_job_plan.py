"""The Job controller's pure decisions: counting through uncountedTerminatedPods, how many
pods to run, indexes, the failure backoff, the pod failure policy, terminal conditions."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from minik8s.api import defaults, resources
from minik8s.controllers import disruption_plan, job_plan, job_pods, podgc_plan

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
_uids = itertools.count()


def make_job(**spec: Any) -> dict[str, Any]:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j", "namespace": "ns", "uid": "job-uid", "generation": 1},
        "spec": {
            **spec,
            "template": {
                "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}
            },
        },
        "status": {},
    }
    defaults.apply_defaults(resources.JOBS, job)
    return job


def pod(
    phase: str = "Running",
    finalizer: bool = True,
    index: int | None = None,
    deleting: bool = False,
    exit_code: int | None = None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": f"p{next(_uids)}",
        "namespace": "ns",
        "creationTimestamp": "2026-03-01T11:00:00Z",
    }
    metadata["uid"] = metadata["name"]
    if finalizer:
        metadata["finalizers"] = [job_pods.TRACKING_FINALIZER]
    if index is not None:
        metadata["annotations"] = {job_pods.COMPLETION_INDEX: str(index)}
    if deleting:
        metadata["deletionTimestamp"] = "2026-03-01T11:59:00Z"
    status: dict[str, Any] = {"phase": phase}
    if exit_code is not None:
        status["containerStatuses"] = [
            {
                "name": "c",
                "state": {
                    "terminated": {"exitCode": exit_code, "finishedAt": "2026-03-01T11:59:55Z"}
                },
            }
        ]
    return {"metadata": metadata, "status": status}


def test_finished_pods_go_to_uncounted_then_to_the_counters() -> None:
    job = make_job(completions=3, parallelism=2)
    done, failed, running = pod("Succeeded"), pod("Failed", exit_code=1), pod()
    plan = job_plan.plan_sync(job, [done, failed, running], NOW)
    uncounted = plan.status["uncountedTerminatedPods"]
    assert uncounted == {
        "succeeded": [done["metadata"]["uid"]],
        "failed": [failed["metadata"]["uid"]],
    }
    assert "succeeded" not in plan.status, "nothing is counted before its finalizer is gone"
    assert plan.remove_finalizers == [done, failed]
    assert not plan.create and plan.status["active"] == 1, "the failure's backoff holds creates"
    counted = job_plan.count_removed(plan.status, with_finalizer={running["metadata"]["uid"]})
    assert (counted["succeeded"], counted["failed"]) == (1, 1)
    assert counted["uncountedTerminatedPods"] == {}


def test_a_pod_still_holding_its_finalizer_is_not_counted_twice() -> None:
    job = make_job(completions=2, parallelism=1)
    done = pod("Succeeded")
    job["status"] = {"uncountedTerminatedPods": {"succeeded": [done["metadata"]["uid"]]}}
    plan = job_plan.plan_sync(job, [done], NOW)
    assert plan.status["uncountedTerminatedPods"]["succeeded"] == [done["metadata"]["uid"]]
    assert len(plan.create) == 1, "one completion known (uncounted), one to go"


def test_uncounted_pods_whose_finalizer_is_gone_are_counted_once() -> None:
    job = make_job(completions=2, parallelism=2)
    gone = pod("Succeeded", finalizer=False)
    job["status"] = {
        "succeeded": 0,
        "uncountedTerminatedPods": {"succeeded": [gone["metadata"]["uid"]]},
    }
    plan = job_plan.plan_sync(job, [gone], NOW)
    assert plan.status["succeeded"] == 1 and plan.status["uncountedTerminatedPods"] == {}
    again = job_plan.plan_sync({**job, "status": plan.status}, [gone], NOW)
    assert again.status["succeeded"] == 1


def test_completion_gives_success_criteria_then_complete() -> None:
    job = make_job(completions=1)
    job["status"] = {"succeeded": 1, "uncountedTerminatedPods": {}}
    plan = job_plan.plan_sync(job, [pod("Succeeded", finalizer=False)], NOW)
    met = [c for c in plan.status["conditions"] if c["type"] == "SuccessCriteriaMet"]
    assert met and met[0]["reason"] == "CompletionsReached"
    assert plan.final_condition is not None and plan.final_condition["type"] == "Complete"
    assert plan.can_finish
    final = job_plan.finish(plan.status, plan.final_condition, NOW)
    assert final["completionTime"] == "2026-03-01T12:00:00Z"


def test_backoff_limit_fails_after_deleting_active_pods() -> None:
    job = make_job(completions=3, parallelism=2, backoffLimit=1)
    job["status"] = {"failed": 1}
    running, failing = pod(), pod("Failed", exit_code=2)
    plan = job_plan.plan_sync(job, [running, failing], NOW)
    target = [c for c in plan.status["conditions"] if c["type"] == "FailureTarget"]
    assert target[0]["reason"] == "BackoffLimitExceeded"
    assert plan.delete == [running] and not plan.create
    assert not plan.can_finish, "the deleted pod is still terminating"
    assert plan.final_condition["type"] == "Failed"  # type: ignore[index]


def test_failure_backoff_delays_replacements() -> None:
    job = make_job(completions=1, backoffLimit=6)
    plan = job_plan.plan_sync(job, [pod("Failed", exit_code=1)], NOW)
    assert not plan.create and plan.backoff.failures == 1
    assert plan.requeue_after is not None and 4 < plan.requeue_after <= 10
    assert job_pods.Backoff(3, NOW).delay() == 40 and job_pods.Backoff(9, NOW).delay() == 360
    later = job_plan.plan_sync(job, [], NOW + timedelta(seconds=11), backoff=plan.backoff)
    assert len(later.create) == 1


def test_indexed_pods_indexes_env_and_hostname() -> None:
    job = make_job(completions=4, parallelism=2, completionMode="Indexed")
    job["status"] = {"completedIndexes": "0"}
    plan = job_plan.plan_sync(job, [pod("Running", index=1)], NOW)
    assert [p["metadata"]["annotations"][job_pods.COMPLETION_INDEX] for p in plan.create] == ["2"]
    created = plan.create[0]
    assert created["metadata"]["generateName"] == "j-2-"
    assert created["metadata"]["labels"][job_pods.COMPLETION_INDEX] == "2"
    assert created["spec"]["hostname"] == "j-2"
    env = created["spec"]["containers"][0]["env"][0]
    assert env["name"] == "JOB_COMPLETION_INDEX"
    assert job_pods.format_indexes({0, 1, 2, 4, 6, 7, 8}) == "0-2,4,6-8"
    assert job_pods.parse_indexes("0-2,4,6-8", 7) == {0, 1, 2, 4, 6}


def test_parallelism_is_never_exceeded_and_work_queue_mode() -> None:
    job = make_job(completions=10, parallelism=3)
    assert len(job_plan.plan_sync(job, [pod(), pod()], NOW).create) == 1
    assert len(job_plan.plan_sync(job, [pod() for _ in range(4)], NOW).delete) == 1
    queue = make_job(parallelism=3)
    queue["spec"]["completions"] = None
    assert len(job_plan.plan_sync(queue, [], NOW).create) == 3
    plan = job_plan.plan_sync(queue, [pod("Succeeded"), pod()], NOW)
    assert not plan.create, "after one success, no new pods"


def test_pod_failure_policy() -> None:
    policy = {
        "rules": [
            {
                "action": "Ignore",
                "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
            },
            {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}},
            {"action": "Count", "onExitCodes": {"operator": "NotIn", "values": [7]}},
        ]
    }
    job = make_job(podFailurePolicy=policy)
    assert job["spec"]["podReplacementPolicy"] == "Failed"
    fatal = pod("Failed", exit_code=42)
    message, counts, action = job_pods.match_failure_policy(job, fatal)
    assert action == "FailJob" and counts
    assert message == "Container c for pod ns/" + fatal["metadata"]["name"] + (
        " failed with exit code 42 matching FailJob rule at index 1"
    )
    evicted = pod("Failed", exit_code=137)
    evicted["status"]["conditions"] = [{"type": "DisruptionTarget", "status": "True"}]
    assert job_pods.match_failure_policy(job, evicted) == (None, False, "Ignore")
    assert job_pods.match_failure_policy(job, pod("Failed", exit_code=7)) == (None, True, None)
    plan = job_plan.plan_sync(job, [fatal], NOW)
    assert plan.final_condition["reason"] == "PodFailurePolicy"  # type: ignore[index]


def test_suspend_deletes_active_pods_and_sets_the_condition() -> None:
    job = make_job(parallelism=2, completions=2, suspend=True)
    running = pod()
    plan = job_plan.plan_sync(job, [running], NOW)
    assert plan.delete == [running] and not plan.create
    assert plan.status["conditions"][0]["reason"] == "JobSuspended"
    assert "startTime" not in plan.status


def test_deadline() -> None:
    job = make_job(activeDeadlineSeconds=30)
    job["status"] = {"startTime": "2026-03-01T11:59:40Z"}
    plan = job_plan.plan_sync(job, [pod()], NOW)
    assert plan.requeue_after is not None and abs(plan.requeue_after - 10) < 0.01
    late = job_plan.plan_sync(job, [pod()], NOW + timedelta(seconds=11))
    assert late.final_condition["reason"] == "DeadlineExceeded"  # type: ignore[index]


def test_disruption_budget_arithmetic() -> None:
    def ready(name: str) -> dict[str, Any]:
        return {
            "metadata": {"name": name, "labels": {"a": "b"}},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
        }

    pods = [ready("x"), ready("y"), ready("z")]
    pdb = {
        "metadata": {"generation": 2},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"a": "b"}}},
        "status": {"disruptedPods": {"x": "2026-03-01T11:59:00Z", "gone": "2026-03-01T11:59:00Z"}},
    }
    selected = disruption_plan.selected_pods(pdb, pods)
    status, recheck = disruption_plan.compute_status(
        pdb, selected, disruption_plan.expected(pdb, selected, None), NOW
    )
    assert (status["currentHealthy"], status["desiredHealthy"], status["disruptionsAllowed"]) == (
        2,
        2,
        0,
    )
    assert status["disruptedPods"] == {"x": "2026-03-01T11:59:00Z"} and recheck == 60
    pdb["spec"] = {"maxUnavailable": "50%", "selector": {}}
    wanted = disruption_plan.expected(pdb, pods, scale=4)
    assert (wanted.pods, wanted.healthy) == (4, 2)
    assert disruption_plan.expected({"spec": {"minAvailable": "50%"}}, pods, 3).healthy == 2


def test_podgc_decisions() -> None:
    old = {
        "metadata": {"name": "old", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "status": {"phase": "Succeeded"},
    }
    new = {
        "metadata": {"name": "new", "creationTimestamp": "2026-02-01T00:00:00Z"},
        "status": {"phase": "Failed"},
    }
    running = {
        "metadata": {"name": "r"},
        "spec": {"nodeName": "gone"},
        "status": {"phase": "Running"},
    }
    assert podgc_plan.terminated_to_delete([new, old, running], 1) == [old]
    assert podgc_plan.terminated_to_delete([new, old], 0) == []
    assert podgc_plan.orphaned([running, old], {"n1"}) == [running]
    failed = podgc_plan.failed_status(running)
    assert failed["phase"] == "Failed"
    assert failed["conditions"][0]["reason"] == "DeletionByPodGC"


def test_event_spam_filter_is_client_go_s() -> None:
    from minik8s.componentbase.events import SpamFilter

    now = [0.0]
    spam = SpamFilter(burst=3, refill_seconds=300, clock=lambda: now[0])
    assert [spam.allow("job") for _ in range(4)] == [True, True, True, False]
    assert spam.allow("other-object")
    now[0] = 300.0
    assert spam.allow("job") and not spam.allow("job"), "one more per refill period"
