"""Validation of Jobs, CronJobs, ReplicationControllers and PodDisruptionBudgets, with
Kubernetes' field paths and messages."""

from __future__ import annotations

from typing import Any

import pytest

from minik8s.api import defaults, resources, validation


def job(**spec: Any) -> dict[str, Any]:
    obj = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j", "namespace": "ns", "uid": "u"},
        "spec": {
            **spec,
            "template": {
                "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}
            },
        },
    }
    defaults.apply_defaults(resources.JOBS, obj)
    return obj


def messages(rt: resources.ResourceType, obj: dict[str, Any]) -> dict[str, str]:
    return {c.field: c.message for c in validation.validate_create(rt, obj)}


def test_a_defaulted_job_is_valid_and_gets_its_selector() -> None:
    obj = job()
    assert messages(resources.JOBS, obj) == {}
    assert obj["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": "u"}}
    assert obj["spec"]["template"]["metadata"]["labels"]["job-name"] == "j"
    assert (obj["spec"]["completions"], obj["spec"]["parallelism"]) == (1, 1)
    assert obj["spec"]["backoffLimit"] == 6 and obj["spec"]["completionMode"] == "NonIndexed"


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        (
            {"completions": -1},
            "spec.completions",
            "Invalid value: -1: must be greater than or equal to 0",
        ),
        (
            {"parallelism": -2},
            "spec.parallelism",
            "Invalid value: -2: must be greater than or equal to 0",
        ),
        (
            {"completionMode": "Indexed", "completions": None, "parallelism": 2},
            "spec.completions",
            "Required value: when completion mode is Indexed",
        ),
        (
            {"completionMode": "Random"},
            "spec.completionMode",
            'Unsupported value: "Random": supported values: "NonIndexed", "Indexed"',
        ),
        (
            {"successPolicy": {"rules": []}},
            "spec.successPolicy",
            "Forbidden: not supported by minik8s",
        ),
        (
            {
                "podFailurePolicy": {
                    "rules": [
                        {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [0]}}
                    ]
                }
            },
            "spec.podFailurePolicy.rules[0].onExitCodes.values[0]",
            "Invalid value: 0: must not be 0 for the In operator",
        ),
    ],
)
def test_invalid_jobs(spec: dict[str, Any], field: str, message: str) -> None:
    assert messages(resources.JOBS, job(**spec))[field] == message


def test_job_updates_keep_the_template_and_selector() -> None:
    old = job()
    new = job()
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "other"
    causes = validation.validate_update(resources.JOBS, new, old)
    assert [c.field for c in causes] == ["spec.template"]


def test_cronjob_and_rc_and_pdb_validation() -> None:
    cronjob = {
        "metadata": {"name": "x" * 53, "namespace": "ns"},
        "spec": {
            "schedule": "TZ=UTC 0 * * * *",
            "concurrencyPolicy": "Sometimes",
            "jobTemplate": {"spec": job()["spec"]},
        },
    }
    got = messages(resources.CRONJOBS, cronjob)
    assert got["metadata.name"].endswith("must be no more than 52 characters")
    assert got["spec.schedule"].endswith(
        "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
    )
    assert got["spec.concurrencyPolicy"] == (
        'Unsupported value: "Sometimes": supported values: "Allow", "Forbid", "Replace"'
    )
    assert got["spec.jobTemplate.spec.selector"].endswith("`selector` will be auto-generated")
    rc = {
        "metadata": {"name": "rc", "namespace": "ns"},
        "spec": {
            "selector": {"app": "a"},
            "template": {
                "metadata": {"labels": {"app": "b"}},
                "spec": {"containers": [{"name": "c", "image": "i"}]},
            },
        },
    }
    defaults.apply_defaults(resources.REPLICATIONCONTROLLERS, rc)
    assert messages(resources.REPLICATIONCONTROLLERS, rc)["spec.template.metadata.labels"].endswith(
        "`selector` does not match template `labels`"
    )
    pdb = {
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {"minAvailable": 1, "maxUnavailable": "120%"},
    }
    got = messages(resources.PODDISRUPTIONBUDGETS, pdb)
    assert got["spec"].endswith("minAvailable and maxUnavailable cannot be both set")
    assert got["spec.maxUnavailable"] == 'Invalid value: "120%": must not be greater than 100%'


def test_describe_job_cronjob_pdb_lines() -> None:
    from minik8s.cli.minikctl import describers

    finished = job(completions=2)
    finished["status"] = {
        "succeeded": 2,
        "startTime": "2026-03-01T12:00:00Z",
        "completionTime": "2026-03-01T12:01:05Z",
    }
    lines = describers.describe(resources.JOBS, finished, {})
    assert "Completions:\t2" in lines and "Duration:\t65s" in lines
    assert "Pods Statuses:\t0 Active (0 Ready) / 2 Succeeded / 0 Failed" in lines
    cronjob = {
        "metadata": {"name": "c", "namespace": "ns"},
        "spec": {"schedule": "@hourly", "jobTemplate": {"spec": {}}},
    }
    assert "Schedule:\t@hourly" in describers.describe(resources.CRONJOBS, cronjob, {})
    pdb = {
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"a": "b"}}},
        "status": {"disruptionsAllowed": 1},
    }
    lines = describers.describe(resources.PODDISRUPTIONBUDGETS, pdb, {})
    assert "Min available:\t1" in lines and "    Allowed disruptions:\t1" in lines
