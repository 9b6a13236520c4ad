"""Command line of the scheduler, and the small decisions of its event handlers."""

from __future__ import annotations

import pytest

from minik8s.scheduler.config import SchedulerSettings, parse_args
from minik8s.scheduler.nodeinfo import is_unscheduled, node_info
from minik8s.scheduler.scheduler import (
    node_change_matters,
    scheduling_relevant_change,
    unschedulable_condition_current,
)
from tests.support.scheduling import node, pod


def test_defaults_match_kube_scheduler() -> None:
    settings = parse_args([])
    assert settings == SchedulerSettings()
    election = settings.leader_election
    assert election.leader_elect and election.resource_name == "minik8s-scheduler"
    assert election.resource_namespace == "kube-system" and settings.healthz.port == 10259
    assert (election.lease_duration, election.renew_deadline, election.retry_period) == (15, 10, 2)


def test_flags() -> None:
    settings = parse_args(
        ["--kubeconfig=/k", "--leader-elect=false", "--lease-name=s2", "--healthz-port=0",
         "--percentage-of-nodes-to-score=20", "--v=4", "--leader-elect-lease-duration=4",
         "--leader-elect-renew-deadline=3", "--leader-elect-retry-period=1"]
    )  # fmt: skip
    election = settings.leader_election
    assert settings.client.kubeconfig == "/k" and not election.leader_elect
    assert (election.resource_name, settings.healthz.port) == ("s2", 0)
    assert settings.percentage_of_nodes_to_score == 20 and settings.log_level == "debug"
    assert (election.lease_duration, election.renew_deadline, election.retry_period) == (4, 3, 1)
    assert parse_args(["--leader-elect"]).leader_election.leader_elect
    assert parse_args(["--leader-elect-resource-name=s3"]).leader_election.resource_name == "s3"
    durations = ["--leader-elect-lease-duration=1m", "--leader-elect-renew-deadline=30s",
                 "--leader-elect-retry-period=500ms"]  # fmt: skip
    election = parse_args(durations).leader_election
    assert (election.lease_duration, election.renew_deadline, election.retry_period) == (
        60,
        30,
        0.5,
    )


@pytest.mark.parametrize(
    "argv",
    [["--percentage-of-nodes-to-score=101"], ["--leader-elect=maybe"],
     ["--leader-elect-lease-duration=2", "--leader-elect-renew-deadline=3"]],
)  # fmt: skip
def test_bad_flags_exit(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(argv)


def test_which_pods_are_ours() -> None:
    assert is_unscheduled(pod("p"))
    assert not is_unscheduled(pod("p", scheduler_name="other"))
    assert is_unscheduled(pod("p", scheduler_name="other"), "other")
    bound = pod("p")
    bound["spec"]["nodeName"] = "n"
    assert not is_unscheduled(bound)
    deleting = pod("p")
    deleting["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    assert not is_unscheduled(deleting)
    done = pod("p")
    done["status"] = {"phase": "Failed"}
    assert not is_unscheduled(done)


def test_status_only_updates_do_not_count_as_changes() -> None:
    old = pod("p", "1")
    status_only = {**old, "status": {"conditions": [{"type": "PodScheduled"}]}}
    assert not scheduling_relevant_change(old, status_only)
    assert scheduling_relevant_change(old, pod("p", "2"))
    relabelled = pod("p", "1")
    relabelled["metadata"]["labels"] = {"a": "b"}
    assert scheduling_relevant_change(old, relabelled)


def test_heartbeats_do_not_count_as_node_changes() -> None:
    before = node_info(node("n"))
    heartbeat = node("n")
    heartbeat["status"]["conditions"][0]["lastHeartbeatTime"] = "2024-01-01T00:00:00Z"
    assert not node_change_matters(before, node_info(heartbeat))
    assert node_change_matters(before, node_info(node("n", cpu="8")))
    assert node_change_matters(before, node_info(node("n", ready=False)))
    assert node_change_matters(before, node_info(node("n", labels={"a": "b"})))


def test_unschedulable_condition_is_written_only_when_it_changes() -> None:
    p = pod("p")
    assert not unschedulable_condition_current(p, "m")
    p["status"] = {"conditions": [{"type": "PodScheduled", "status": "False",
                                   "reason": "Unschedulable", "message": "m"}]}  # fmt: skip
    assert unschedulable_condition_current(p, "m")
    assert not unschedulable_condition_current(p, "other")
