"""minikctl's pure parts: argument handling, alignment, JSONPath, apply's patch, manifests,
rollout status, the traced flow, drain and expose plans."""

from __future__ import annotations

import pytest

from minik8s.api import podflow as flow
from minik8s.api import resources
from minik8s.cli.minikctl import (
    apply,
    expose,
    jsonpath,
    manifests,
    nodes,
    rollout,
    run,
    targets,
)
from minik8s.cli.minikctl.app import hoist_globals
from minik8s.cli.minikctl.errors import CliError
from minik8s.cli.minikctl.output import TableView, align
from minik8s.cli.minikctl.tabwriter import tabwrite


def test_hoist_globals_stops_at_double_dash() -> None:
    args = ["run", "x", "--image=b", "-n", "ns", "--", "sleep", "-n", "1"]
    assert hoist_globals(args) == ["-n", "ns", "run", "x", "--image=b", "--", "sleep", "-n", "1"]
    assert hoist_globals(["get", "po", "--kubeconfig=k", "-nfoo"]) == [
        "--kubeconfig=k", "-n", "foo", "get", "po",
    ]  # fmt: skip


def test_targets() -> None:
    assert targets.parse(["po", "a", "b"]) == [
        targets.Target(resources.PODS, "a"), targets.Target(resources.PODS, "b"),
    ]  # fmt: skip
    assert targets.parse(["deploy/web"]) == [targets.Target(resources.DEPLOYMENTS, "web")]
    assert [t.rt for t in targets.parse(["deploy,rs"])] == [
        resources.DEPLOYMENTS, resources.REPLICASETS,
    ]  # fmt: skip
    assert {t.rt.kind for t in targets.parse(["all"])} >= {"Pod", "Service", "Deployment"}
    for short in ("po", "svc", "deploy", "rs", "no", "ns", "ep"):
        targets.resource_type(short)
    with pytest.raises(CliError):
        targets.parse(["po", "deploy/web"])
    assert targets.ref(resources.DEPLOYMENTS, "web") == "deployment.apps/web"


def test_align_like_kubectl_tabwriter() -> None:
    lines = align([["NAME", "READY", "AGE"], ["a", "0/1", "5s"]])
    assert lines == ["NAME   READY   AGE", "a      0/1     5s"]


def test_tabwriter_blocks() -> None:
    lines = tabwrite(["Name:\tx", "Labels:\ta=1", "\tb=2", "Containers:", "  c:", "    Image:\tn"],
                     padding=2)  # fmt: skip
    assert lines == ["Name:    x", "Labels:  a=1", "         b=2", "Containers:", "  c:",
                     "    Image:  n"]  # fmt: skip


def test_table_view_columns() -> None:
    table = {
        "columnDefinitions": [{"name": "Name", "priority": 0}, {"name": "IP", "priority": 1}],
        "rows": [{"cells": ["a", None], "object": {"metadata": {"namespace": "ns",
                                                                 "labels": {"x": "1"}}}}],
    }  # fmt: skip
    view = TableView(with_namespace=True, show_labels=True, with_kind=resources.PODS)
    assert view.header(table) == ["NAMESPACE", "NAME", "LABELS"]
    assert view.rows(table) == [["ns", "pod/a", "x=1"]]
    assert TableView(wide=True).rows(table) == [["a", "<none>"]]


def test_jsonpath() -> None:
    data = {"items": [{"metadata": {"name": "a", "labels": {"k.x": "1"}}},
                      {"metadata": {"name": "b"}}]}  # fmt: skip
    assert jsonpath.render("{.items[*].metadata.name}", data) == "a b"
    assert jsonpath.render("{.items[0].metadata.labels['k.x']}", data) == "1"
    assert jsonpath.render('{range .items[*]}{.metadata.name}{"\\n"}{end}', data) == "a\nb\n"
    assert jsonpath.render("n={.items[1].metadata}", data) == 'n={"name":"b"}'


def test_apply_patch_is_three_way() -> None:
    last = {"metadata": {"labels": {"a": "1", "gone": "x"}}, "spec": {"replicas": 2}}
    new = {"metadata": {"labels": {"a": "1"}}, "spec": {"replicas": 3}}
    live = {"metadata": {"labels": {"a": "1", "gone": "x", "server": "s"}},
            "spec": {"replicas": 2, "defaulted": True}}  # fmt: skip
    assert apply.apply_patch(last, new, live) == {
        "metadata": {"labels": {"gone": None}}, "spec": {"replicas": 3},
    }  # fmt: skip


def test_apply_patch_ignores_server_defaults_inside_lists() -> None:
    new = {"spec": {"containers": [{"name": "c", "image": "n"}]}}
    live = {"spec": {"containers": [{"name": "c", "image": "n", "imagePullPolicy": "Always"}]}}
    assert apply.apply_patch(new, new, live) == {}
    changed = {"spec": {"containers": [{"name": "c", "image": "m"}]}}
    assert apply.apply_patch(new, changed, live) == changed


def test_last_applied_annotation_excludes_itself() -> None:
    annotations = {apply.LAST_APPLIED: "old", "a": "b"}
    obj = {"kind": "Pod", "metadata": {"name": "x", "annotations": annotations}}
    full, text = apply.with_last_applied(obj)
    assert apply.LAST_APPLIED not in text and '"a":"b"' in text
    assert full["metadata"]["annotations"] == {"a": "b", apply.LAST_APPLIED: text}


def test_manifests_multi_document_and_lists() -> None:
    text = """
apiVersion: v1
kind: Pod
metadata: {name: a}
---
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Service, metadata: {name: b}}
"""
    assert [m.name for m in manifests.parse(text, "f")] == ["a", "b"]
    with pytest.raises(CliError, match="is a list, not an object"):
        manifests.parse("- a\n", "f")


def test_run_builds_kubectls_pod() -> None:
    pod = run.pod_manifest("web", "nginx", port=80, env=["A=b"], labels="x=y",
                           restart="Never", command=True, args=["sleep", "1"])  # fmt: skip
    assert pod["metadata"]["labels"] == {"x": "y"}
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["containers"] == [{
        "name": "web", "image": "nginx", "command": ["sleep", "1"],
        "env": [{"name": "A", "value": "b"}], "ports": [{"containerPort": 80}], "resources": {},
    }]  # fmt: skip
    with pytest.raises(CliError):
        run.pod_manifest("web", "nginx", restart="Sometimes")


def deploy(generation: int = 1, observed: int = 1, **status: int) -> dict:
    return {
        "metadata": {"name": "web", "generation": generation},
        "spec": {"replicas": 3},
        "status": {"observedGeneration": observed, **status},
    }


def test_rollout_status_messages() -> None:
    assert rollout.deployment_status(deploy(2, 1)) == (
        "Waiting for deployment spec update to be observed...", False,
    )  # fmt: skip
    message, done = rollout.deployment_status(deploy(updatedReplicas=1, replicas=3))
    assert message.endswith("1 out of 3 new replicas have been updated...") and not done
    message, _ = rollout.deployment_status(deploy(updatedReplicas=3, replicas=4))
    assert message.endswith("1 old replicas are pending termination...")
    message, _ = rollout.deployment_status(
        deploy(updatedReplicas=3, replicas=3, availableReplicas=2)
    )
    assert message.endswith("2 of 3 updated replicas are available...")
    assert rollout.deployment_status(
        deploy(updatedReplicas=3, replicas=3, availableReplicas=3)
    ) == ('deployment "web" successfully rolled out', True)
    stuck = deploy(updatedReplicas=1, replicas=3)
    stuck["status"]["conditions"] = [
        {"type": "Available", "status": "False", "reason": "ProgressDeadlineExceeded"},
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"},
    ]
    with pytest.raises(rollout.RolloutFailed, match='deployment "web" exceeded its progress'):
        rollout.deployment_status(stuck)
    stuck["status"]["conditions"][1]["reason"] = "ReplicaSetUpdated"
    assert not rollout.deployment_status(stuck)[1]


def test_rollout_undo_template() -> None:
    def rs(revision: int, image: str) -> dict:
        return {
            "metadata": {"annotations": {rollout.REVISION: str(revision)}},
            "spec": {"template": {"metadata": {"labels": {"app": "w", "pod-template-hash": "h"}},
                                  "spec": {"containers": [{"image": image}]}}},
        }  # fmt: skip

    template = rollout.undo_template([rs(1, "a"), rs(2, "b"), rs(3, "c")], 3, 0)
    assert template is not None
    assert template["metadata"]["labels"] == {"app": "w"}
    assert template["spec"]["containers"][0]["image"] == "b"
    assert rollout.undo_template([rs(1, "a")], 1, 0) is None


def test_flow_steps_from_pod_and_events() -> None:
    pod = {
        "metadata": {"uid": "u1"},
        "spec": {"nodeName": "node-1"},
        "status": {
            "phase": "Running", "podIP": "10.0.0.5",
            "conditions": [{"type": "PodScheduled", "status": "True"},
                           {"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "c", "containerID": "docker://abc",
                                   "state": {"running": {}}}],
        },
    }  # fmt: skip
    events = [
        {"metadata": {"uid": "e1"}, "involvedObject": {"uid": "u1"}, "reason": "Scheduled",
         "message": "Successfully assigned d/x to node-1", "source": {"component": "sched"},
         "lastTimestamp": "2024-01-01T00:00:00Z"},
        {"metadata": {"uid": "e2"}, "involvedObject": {"uid": "other"}, "reason": "Old"},
    ]  # fmt: skip
    steps = flow.steps(pod, events)
    assert [s.key for s in steps] == ["scheduled", "containers", "running", "ready", "event/e1/1"]
    assert "10.0.0.5" in steps[2].detail and "sched" in steps[4].detail
    assert flow.done(pod)
    pending = {"metadata": {}, "spec": {}, "status": {"phase": "Pending"}}
    assert flow.steps(pending, []) == [] and not flow.done(pending)
    assert "scheduler" in flow.waiting_for(pending)


def test_drain_plan() -> None:
    owned = {"metadata": {"name": "a", "namespace": "d", "ownerReferences": [{"controller": True}]}}
    bare = {"metadata": {"name": "b", "namespace": "d"}}
    assert nodes.drain_plan([owned, bare], force=False) == ([owned], ["d/b"])
    assert nodes.drain_plan([owned, bare], force=True) == ([owned, bare], [])


def test_expose_service_manifest() -> None:
    deployment = {
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"spec": {"containers": [{"ports": [{"containerPort": 80}]}]}}},
    }  # fmt: skip
    svc = expose.service_manifest(
        resources.DEPLOYMENTS, deployment, name=None, port=None, target_port=None,
        protocol="TCP", service_type="NodePort",
    )  # fmt: skip
    assert svc["spec"] == {
        "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
        "selector": {"app": "web"}, "type": "NodePort",
    }  # fmt: skip
