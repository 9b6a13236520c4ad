"""DaemonSet, StatefulSet and ControllerRevision planning (pure), and the rollout viewers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from minik8s.api import defaults
from minik8s.api import resources as rt
from minik8s.cli.minikctl import errors as cli_errors
from minik8s.cli.minikctl import rollout_sets
from minik8s.controllers import daemonset_plan as ds_plan
from minik8s.controllers import history_plan
from minik8s.controllers import statefulset_plan as sts_plan

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def node(name: str, labels: dict[str, str] | None = None, taints: list | None = None) -> dict:
    return {
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
        "spec": {"taints": taints or []},
    }


def daemonset(**spec: Any) -> dict[str, Any]:
    ds = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": "ns", "uid": "ds-uid", "generation": 1},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {
                "metadata": {"labels": {"app": "agent"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            },
            **spec,
        },
    }
    defaults.apply_defaults(rt.DAEMONSETS, ds)
    return ds


def pod(
    name: str,
    node_name: str,
    hash_: str,
    ready: bool = True,
    created: int = 0,
    phase: str = "Running",
    deleting: bool = False,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": "ns",
        "uid": f"uid-{name}",
        "creationTimestamp": f"2024-05-01T11:00:{created:02d}Z",
        "labels": {"app": "agent", "controller-revision-hash": hash_},
    }
    if deleting:
        metadata["deletionTimestamp"] = "2024-05-01T11:59:00Z"
    conditions = [
        {
            "type": "Ready",
            "status": "True" if ready else "False",
            "lastTransitionTime": "2024-05-01T11:00:00Z",
        }
    ]
    return {
        "metadata": metadata,
        "spec": {"nodeName": node_name},
        "status": {"phase": phase, "conditions": conditions},
    }


# --- DaemonSet ---


def test_daemon_pods_get_kubernetes_tolerations_and_node_affinity() -> None:
    pod_obj = ds_plan.new_pod(daemonset(), "n1", "h1")
    keys = {(t["key"], t["effect"]) for t in pod_obj["spec"]["tolerations"]}
    assert ("node.kubernetes.io/not-ready", "NoExecute") in keys
    assert ("node.kubernetes.io/unreachable", "NoExecute") in keys
    assert ("node.kubernetes.io/disk-pressure", "NoSchedule") in keys
    assert ("node.kubernetes.io/unschedulable", "NoSchedule") in keys
    terms = pod_obj["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]["nodeSelectorTerms"]
    assert terms == [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}
    ]
    assert pod_obj["metadata"]["labels"]["controller-revision-hash"] == "h1"
    assert ds_plan.target_node(pod_obj) == "n1"


def test_eligibility_selector_affinity_and_taints() -> None:
    ds = daemonset()
    ds["spec"]["template"]["spec"]["nodeSelector"] = {"role": "edge"}
    assert ds_plan.should_run(ds, node("a", {"role": "edge"})) == (True, True)
    assert ds_plan.should_run(ds, node("b")) == (False, False)
    plain = daemonset()
    no_schedule = node("c", taints=[{"key": "k", "value": "v", "effect": "NoSchedule"}])
    no_execute = node("d", taints=[{"key": "k", "effect": "NoExecute"}])
    not_ready = node("e", taints=[{"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}])
    assert ds_plan.should_run(plain, no_schedule) == (False, True)
    assert ds_plan.should_run(plain, no_execute) == (False, False)
    assert ds_plan.should_run(plain, not_ready) == (True, True)


def test_manage_creates_one_per_node_and_removes_extras_and_gone_nodes() -> None:
    ds = daemonset()
    nodes = [node("a"), node("b")]
    by_node = ds_plan.pods_by_node(
        [pod("p1", "a", "h", created=1), pod("p2", "a", "h", created=2), pod("p3", "gone", "h")]
    )
    step = ds_plan.manage(ds, nodes, by_node, "h")
    assert step.create_on == ["b"]
    assert [p["metadata"]["name"] for p in step.delete] == ["p2"]  # the oldest stays
    assert [p["metadata"]["name"] for p in step.force_delete] == ["p3"]


def test_rolling_update_respects_max_unavailable() -> None:
    ds = daemonset(updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}})
    nodes = [node(n) for n in "abcd"]
    by_node = ds_plan.pods_by_node([pod(f"p{n}", n, "old") for n in "abcd"])
    step = ds_plan.rolling_update(ds, nodes, by_node, "new", NOW)
    assert len(step.delete) == 2 and not step.create_on
    # one node already runs an unready new pod: only one more old pod may go
    by_node = ds_plan.pods_by_node(
        [pod("pa", "a", "new", ready=False)] + [pod(f"p{n}", n, "old") for n in "bcd"]
    )
    assert len(ds_plan.rolling_update(ds, nodes, by_node, "new", NOW).delete) == 1


def test_rolling_update_with_surge_creates_before_deleting() -> None:
    ds = daemonset(
        updateStrategy={
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
        }
    )
    nodes = [node("a"), node("b")]
    by_node = ds_plan.pods_by_node([pod("pa", "a", "old"), pod("pb", "b", "old")])
    step = ds_plan.rolling_update(ds, nodes, by_node, "new", NOW)
    assert step.create_on == ["a"] and not step.delete
    by_node = ds_plan.pods_by_node(
        [pod("pa", "a", "old"), pod("na", "a", "new"), pod("pb", "b", "old")]
    )
    step = ds_plan.rolling_update(ds, nodes, by_node, "new", NOW)
    assert [p["metadata"]["name"] for p in step.delete] == ["pa"] and step.create_on == ["b"]


def test_daemonset_status() -> None:
    ds = daemonset()
    ds["spec"]["template"]["spec"]["nodeSelector"] = {"role": "edge"}
    nodes = [node("a", {"role": "edge"}), node("b", {"role": "edge"}), node("c")]
    by_node = ds_plan.pods_by_node(
        [pod("pa", "a", "h"), pod("pb", "b", "old", ready=False), pod("pc", "c", "h")]
    )
    status = ds_plan.calculate_status(ds, nodes, by_node, "h", NOW)
    assert status == {
        "currentNumberScheduled": 2,
        "numberMisscheduled": 1,
        "desiredNumberScheduled": 2,
        "numberReady": 1,
        "observedGeneration": 1,
        "updatedNumberScheduled": 1,
        "numberAvailable": 1,
        "numberUnavailable": 1,
    }


# --- ControllerRevision ---


def test_revision_stores_a_template_replace_patch_and_matches_it() -> None:
    ds = daemonset()
    revision = history_plan.new_revision(rt.DAEMONSETS, ds, 3, 0, "controller-revision-hash")
    assert revision["data"]["spec"]["template"]["$patch"] == "replace"
    assert revision["metadata"]["name"].startswith("agent-") and revision["revision"] == 3
    assert history_plan.matches(ds, revision)
    assert history_plan.hash_of(ds, 1) != history_plan.hash_of(ds, 0)
    changed = daemonset()
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx"
    assert not history_plan.matches(changed, revision)
    old = [{"metadata": {"name": f"r{i}"}, "revision": i} for i in range(1, 6)]
    assert [r["metadata"]["name"] for r in history_plan.to_prune(old, 2, {"r1"})] == [
        "r2",
        "r3",
        "r4",
    ]


# --- StatefulSet ---


def statefulset(replicas: int = 3, **spec: Any) -> dict[str, Any]:
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": "ns", "uid": "sts-uid", "generation": 1},
        "spec": {
            "replicas": replicas,
            "serviceName": "web",
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "www"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}},
                    },
                }
            ],
            **spec,
        },
    }
    defaults.apply_defaults(rt.STATEFULSETS, sts)
    return sts


def sts_pod(ordinal: int, revision: str = "web-r1", ready: bool = True, **kw: Any) -> dict:
    p = pod(f"web-{ordinal}", "n1", revision, ready=ready, **kw)
    p["metadata"]["labels"] = {"app": "web", "controller-revision-hash": revision}
    return p


def test_statefulset_pod_identity_and_claims() -> None:
    sts = statefulset()
    p = sts_plan.new_pod(sts, sts["spec"]["template"], 1, "web-r1")
    assert p["metadata"]["name"] == "web-1"
    assert p["spec"]["hostname"] == "web-1" and p["spec"]["subdomain"] == "web"
    labels = p["metadata"]["labels"]
    assert labels["statefulset.kubernetes.io/pod-name"] == "web-1"
    assert labels["apps.kubernetes.io/pod-index"] == "1"
    assert labels["controller-revision-hash"] == "web-r1"
    assert p["spec"]["volumes"] == [
        {"name": "www", "persistentVolumeClaim": {"claimName": "www-web-1"}}
    ]
    (claim,) = sts_plan.new_claims(sts, 1)
    assert claim["metadata"]["name"] == "www-web-1"
    assert claim["metadata"]["labels"] == {"app": "web"}
    assert sts["spec"]["volumeClaimTemplates"][0]["status"] == {"phase": "Pending"}


def test_ordered_ready_creates_one_at_a_time_parallel_all() -> None:
    sts = statefulset()
    step = sts_plan.next_step(sts, [], "web-r1", 0, NOW)
    assert step.create == [0]
    step = sts_plan.next_step(sts, [sts_pod(0, ready=False)], "web-r1", 0, NOW)
    assert step.create == [] and "not ready" in step.waiting
    step = sts_plan.next_step(sts, [sts_pod(0)], "web-r1", 0, NOW)
    assert step.create == [1]
    parallel = statefulset(podManagementPolicy="Parallel")
    assert sts_plan.next_step(parallel, [], "web-r1", 0, NOW).create == [0, 1, 2]


def test_scale_down_highest_first_then_rolling_update_down_to_partition() -> None:
    sts = statefulset(replicas=1)
    pods = [sts_pod(0), sts_pod(1), sts_pod(2)]
    step = sts_plan.next_step(sts, pods, "web-r1", 3, NOW)
    assert [p["metadata"]["name"] for p in step.delete] == [
        "web-2"
    ] and step.condemned == step.delete
    rolling = statefulset(
        updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}
    )
    pods = [sts_pod(i) for i in range(3)]
    step = sts_plan.next_step(rolling, pods, "web-r2", 3, NOW)
    assert [p["metadata"]["name"] for p in step.delete] == ["web-2"]
    pods[2] = sts_pod(2, "web-r2")
    step = sts_plan.next_step(rolling, pods, "web-r2", 3, NOW)
    assert [p["metadata"]["name"] for p in step.delete] == ["web-1"]
    pods[1] = sts_pod(1, "web-r2")
    assert sts_plan.next_step(rolling, pods, "web-r2", 3, NOW).delete == []  # web-0: partition
    assert sts_plan.new_pod_revision(rolling, 0, 3) == "current"
    assert sts_plan.new_pod_revision(rolling, 1, 3) == "update"


def test_statefulset_status_completes_the_rolling_update() -> None:
    sts = statefulset(replicas=2)
    pods = [sts_pod(0, "web-r2"), sts_pod(1, "web-r2")]
    status = sts_plan.calculate_status(sts, pods, "web-r1", "web-r2", NOW)
    assert status["currentRevision"] == "web-r2" and status["currentReplicas"] == 2
    assert status["replicas"] == 2 and status["readyReplicas"] == 2
    pods[0] = sts_pod(0, "web-r1")
    status = sts_plan.calculate_status(sts, pods, "web-r1", "web-r2", NOW)
    assert status["currentRevision"] == "web-r1" and status["updatedReplicas"] == 1


def test_claim_retention_owner_references() -> None:
    sts = statefulset(
        persistentVolumeClaimRetentionPolicy={"whenDeleted": "Delete", "whenScaled": "Delete"}
    )
    claim = {"metadata": {"name": "www-web-2"}}
    p = sts_pod(2)
    refs = sts_plan.claim_owner_refs(sts, claim, p, in_range=True)
    assert [(r["kind"], r["uid"]) for r in refs] == [("StatefulSet", "sts-uid")]
    refs = sts_plan.claim_owner_refs(
        sts, {"metadata": {"ownerReferences": refs}}, p, in_range=False
    )
    assert [(r["kind"], r["uid"]) for r in refs] == [("Pod", "uid-web-2")]
    assert sts_plan.claim_owner_refs(statefulset(), claim, p, in_range=False) == []


# --- kubectl's rollout viewers ---


def test_rollout_status_messages() -> None:
    ds = daemonset()
    ds["status"] = {
        "observedGeneration": 1,
        "desiredNumberScheduled": 2,
        "updatedNumberScheduled": 1,
        "numberAvailable": 1,
    }
    assert rollout_sets.daemonset_status(ds) == (
        'Waiting for daemon set "agent" rollout to finish: 1 out of 2 new pods have been '
        "updated...",
        False,
    )
    ds["status"].update(updatedNumberScheduled=2, numberAvailable=2)
    assert rollout_sets.daemonset_status(ds) == ('daemon set "agent" successfully rolled out', True)
    ds["spec"]["updateStrategy"] = {"type": "OnDelete"}
    with pytest.raises(cli_errors.CliError):
        rollout_sets.daemonset_status(ds)
    sts = statefulset(replicas=2)
    sts["status"] = {
        "observedGeneration": 1,
        "readyReplicas": 2,
        "currentReplicas": 2,
        "updatedReplicas": 2,
        "currentRevision": "web-a",
        "updateRevision": "web-a",
    }
    assert rollout_sets.statefulset_status(sts) == (
        "statefulset rolling update complete 2 pods at revision web-a...",
        True,
    )
    sts["status"]["readyReplicas"] = 1
    assert rollout_sets.statefulset_status(sts) == ("Waiting for 1 pods to be ready...", False)


def test_a_statefulset_template_mounts_its_claim_templates() -> None:
    from minik8s.api import validation

    sts = statefulset()
    sts["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = [
        {"name": "www", "mountPath": "/data"}
    ]
    assert validation.validate_create(rt.STATEFULSETS, sts) == []
    sts["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]["name"] = "nope"
    (cause,) = validation.validate_create(rt.STATEFULSETS, sts)
    assert cause.field == "spec.template.spec.containers[0].volumeMounts[0].name"
