"""CronJob schedules and decisions with an injected clock (no waiting for real minutes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from minik8s.api import cronschedule
from minik8s.controllers import cronjob_plan

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def cronjob(schedule: str = "*/5 * * * *", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {
            "name": "cj",
            "namespace": "ns",
            "uid": "cj-uid",
            "creationTimestamp": "2026-03-01T12:00:00Z",
        },
        "spec": {
            "schedule": schedule,
            "concurrencyPolicy": "Allow",
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 1,
            "jobTemplate": {
                "metadata": {"labels": {"team": "a"}},
                "spec": {"template": {"spec": {"containers": []}}},
            },
            **spec,
        },
    }


def job(name: str, uid: str, finished: str | None = None, start: str = "2026-03-01T12:00:00Z"):
    status: dict[str, Any] = {"startTime": start}
    if finished:
        status["conditions"] = [{"type": finished, "status": "True"}]
        if finished == "Complete":
            status["completionTime"] = start
    return {
        "metadata": {"name": name, "namespace": "ns", "uid": uid, "creationTimestamp": start},
        "status": status,
    }


@pytest.mark.parametrize(
    ("text", "after", "expected"),
    [
        ("*/5 * * * *", T0, T0 + timedelta(minutes=5)),
        ("@hourly", T0, T0 + timedelta(hours=1)),
        ("@daily", T0, datetime(2026, 3, 2, tzinfo=UTC)),
        ("0 0 1 1 *", T0, datetime(2027, 1, 1, tzinfo=UTC)),
        ("@every 90s", T0, T0 + timedelta(seconds=90)),
        ("30 9 * * 1-5", T0, datetime(2026, 3, 2, 9, 30, tzinfo=UTC)),  # Sunday → Monday
    ],
)
def test_schedules(text: str, after: datetime, expected: datetime) -> None:
    assert cronschedule.parse(text).next_after(after) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("* * *", "expected exactly 5 fields, found 3: [* * *]"),
        ("@fortnightly", "unrecognized descriptor: @fortnightly"),
        ("", "empty spec string"),
    ],
)
def test_bad_schedules(text: str, message: str) -> None:
    with pytest.raises(
        cronschedule.ScheduleError, match=message.replace("*", r"\*").replace("[", r"\[")
    ):
        cronschedule.parse(text)


def test_time_zone_shifts_the_schedule() -> None:
    cj = cronjob("0 9 * * *", timeZone="Europe/Rome")
    cj["status"] = {"lastScheduleTime": "2026-03-01T08:00:00Z"}
    before = cronjob_plan.plan_cronjob(cj, [], datetime(2026, 3, 2, 7, 59, tzinfo=UTC))
    assert before.create is None
    plan = cronjob_plan.plan_cronjob(cj, [], datetime(2026, 3, 2, 8, 0, 30, tzinfo=UTC))
    assert plan.create is not None  # 09:00 in Rome is 08:00 UTC in March
    assert plan.create["metadata"]["annotations"][cronjob_plan.SCHEDULED_TIMESTAMP] == (
        "2026-03-02T09:00:00+01:00"
    )


def test_nothing_due_then_a_run_with_name_labels_owner_and_requeue() -> None:
    cj = cronjob()
    plan = cronjob_plan.plan_cronjob(cj, [], T0 + timedelta(minutes=4))
    assert plan.create is None and plan.requeue_after == pytest.approx(60.1)
    plan = cronjob_plan.plan_cronjob(cj, [], T0 + timedelta(minutes=5, seconds=3))
    created = plan.create
    assert created is not None
    scheduled = T0 + timedelta(minutes=5)
    assert created["metadata"]["name"] == f"cj-{int(scheduled.timestamp()) // 60}"
    assert created["metadata"]["labels"] == {"team": "a"}
    assert created["metadata"]["ownerReferences"][0]["uid"] == "cj-uid"
    assert plan.status["lastScheduleTime"] == "2026-03-01T12:05:00Z"


def test_the_same_scheduled_time_is_never_run_twice() -> None:
    cj = cronjob()
    cj["status"] = {"lastScheduleTime": "2026-03-01T12:05:00Z"}
    assert cronjob_plan.plan_cronjob(cj, [], T0 + timedelta(minutes=6)).create is None


def test_forbid_waits_and_replace_deletes_the_running_job() -> None:
    running = job("cj-1", "j1")
    for policy, reason in (("Forbid", "JobAlreadyActive"), ("Replace", None)):
        cj = cronjob(concurrencyPolicy=policy)
        cj["status"] = {"active": [cronjob_plan.job_reference(running)]}
        plan = cronjob_plan.plan_cronjob(cj, [running], T0 + timedelta(minutes=5))
        if reason:
            assert plan.create is None and plan.events[-1][1] == reason
        else:
            assert plan.create is not None and [j for j, _ in plan.delete] == [running]


def test_starting_deadline_limits_catch_up_and_missed_runs() -> None:
    cj = cronjob(startingDeadlineSeconds=30)
    now = T0 + timedelta(hours=3, minutes=1)
    plan = cronjob_plan.plan_cronjob(cj, [], now)
    assert plan.create is None, "12:15 ... 15:00 are all past the 30s deadline"
    assert cronjob_plan.plan_cronjob(cronjob(), [], now).create is not None
    many = cronjob("* * * * *")
    plan = cronjob_plan.plan_cronjob(many, [], T0 + timedelta(hours=3))
    assert any(e[1] == "TooManyMissedTimes" for e in plan.events)
    assert plan.status["lastScheduleTime"] == "2026-03-01T15:00:00Z", "only the latest runs"


def test_active_list_completion_and_history_limits() -> None:
    cj = cronjob(successfulJobsHistoryLimit=1, failedJobsHistoryLimit=0)
    done_old = job("cj-1", "a", "Complete", "2026-03-01T12:00:00Z")
    done_new = job("cj-2", "b", "Complete", "2026-03-01T12:05:00Z")
    failed = job("cj-3", "c", "Failed")
    manual = job("manual", "d")
    cj["status"] = {"active": [cronjob_plan.job_reference(done_new)]}
    plan = cronjob_plan.plan_cronjob(cj, [done_old, done_new, failed, manual], T0)
    assert [r["name"] for r in plan.status["active"]] == ["manual"]
    assert {e[1] for e in plan.events} >= {"SawCompletedJob", "UnexpectedJob"}
    assert plan.status["lastSuccessfulTime"] == "2026-03-01T12:05:00Z"
    assert sorted(j["metadata"]["name"] for j, _ in plan.delete) == ["cj-1", "cj-3"]


def test_suspended_cronjob_only_keeps_its_status() -> None:
    plan = cronjob_plan.plan_cronjob(cronjob(suspend=True), [], T0 + timedelta(hours=1))
    assert plan.create is None and plan.requeue_after is None
