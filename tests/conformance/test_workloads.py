"""Jobs, CronJobs and PodDisruptionBudgets on the real 2-node cluster (Docker kubelets), with
kubectl 1.32 and the official Python client's BatchV1Api / PolicyV1Api as the judges.

Everything a test waits for is started at once, so the waits overlap: the failing Job's 10 s
pod-failure backoff is the longest of them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config

from tests.conformance.conftest import Kubectl
from tests.support.launcher import Launcher
from tests.support.waiting import wait_for

pytestmark = pytest.mark.conformance

BUSYBOX = "minik8s/busybox:latest"
SLEEPER = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]


@pytest.fixture(scope="module")
def api_client(cluster: Launcher) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(str(cluster.kubeconfig))
    yield api
    api.close()


def job(name: str, script: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            **spec,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": 1,
                    "containers": [
                        {
                            "name": "main",
                            "image": BUSYBOX,
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["sh", "-c", script],
                        }
                    ],
                }
            },
        },
    }


def apply(kubectl: Kubectl, tmp_path: Path, documents: list[dict[str, Any]]) -> None:
    path = tmp_path / "manifests.yaml"
    path.write_text(yaml.safe_dump_all(documents))
    kubectl("create", "-f", str(path))


def test_jobs_and_a_cronjob_on_docker(
    kubectl: Kubectl, api_client: client.ApiClient, ns: str, tmp_path: Path
) -> None:
    batch = client.BatchV1Api(api_client)
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "tick"},
        "spec": {
            "schedule": "@every 3s",
            "concurrencyPolicy": "Forbid",
            "jobTemplate": {"spec": job("tick", "echo tick")["spec"]},
        },
    }
    apply(
        kubectl,
        tmp_path,
        [
            job("five", "echo done", completions=5, parallelism=2),
            job("fail", "exit 3", backoffLimit=1),
            job(
                "idx",
                "echo index=$JOB_COMPLETION_INDEX host=$(hostname)",
                completions=3,
                parallelism=3,
                completionMode="Indexed",
            ),
            cronjob,
        ],
    )

    kubectl("wait", "--for=condition=complete", "job/five", "--timeout=90s")
    five = batch.read_namespaced_job_status("five", ns)
    assert (five.status.succeeded, five.status.failed, five.status.active) == (5, None, None) or (
        five.status.succeeded == 5 and not five.status.failed and not five.status.active
    )
    assert [c.type for c in five.status.conditions] == ["SuccessCriteriaMet", "Complete"]
    assert kubectl("logs", "job/five").stdout.strip() == "done"
    table = kubectl("get", "job", "five").stdout.splitlines()
    assert table[1].split()[:3] == ["five", "Complete", "5/5"]

    kubectl("wait", "--for=condition=complete", "job/idx", "--timeout=60s")
    pods = json.loads(kubectl("get", "pods", "-l", "job-name=idx", "-o", "json").stdout)["items"]
    for pod in pods:
        index = pod["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"]
        logs = kubectl("logs", pod["metadata"]["name"]).stdout.strip()
        assert logs == f"index={index} host=idx-{index}"
    assert batch.read_namespaced_job("idx", ns).status.completed_indexes == "0-2"

    kubectl("wait", "--for=condition=failed", "job/fail", "--timeout=90s")
    failed = batch.read_namespaced_job_status("fail", ns)
    assert failed.status.failed == 2
    reasons = {c.type: c.reason for c in failed.status.conditions}
    assert reasons["Failed"] == "BackoffLimitExceeded" == reasons["FailureTarget"]
    pods = json.loads(kubectl("get", "pods", "-l", "job-name=fail", "-o", "json").stdout)["items"]
    finished = min(
        p["status"]["containerStatuses"][0]["state"]["terminated"]["finishedAt"] for p in pods
    )
    created = max(p["metadata"]["creationTimestamp"] for p in pods)
    backoff = time.mktime(time.strptime(created, "%Y-%m-%dT%H:%M:%SZ")) - time.mktime(
        time.strptime(finished, "%Y-%m-%dT%H:%M:%SZ")
    )
    assert backoff >= 9, f"the replacement waited for the 10s backoff ({backoff}s)"

    def cron_run_done() -> bool:
        jobs = batch.list_namespaced_job(ns).items
        return any(
            any(ref.kind == "CronJob" for ref in j.metadata.owner_references or [])
            and any(c.type == "Complete" for c in j.status.conditions or [])
            for j in jobs
        )

    wait_for(cron_run_done, "a scheduled run of the CronJob to complete", 60)
    batch.patch_namespaced_cron_job("tick", ns, {"spec": {"suspend": True}})
    cron = batch.read_namespaced_cron_job("tick", ns)
    assert cron.status.last_schedule_time is not None
    assert kubectl("get", "cj", "tick").stdout.splitlines()[1].split()[:2] == ["tick", "@every"]


def test_budget_blocks_a_drain_until_it_allows(
    kubectl: Kubectl, cluster: Launcher, api_client: client.ApiClient, ns: str
) -> None:
    core, policy = client.CoreV1Api(api_client), client.PolicyV1Api(api_client)
    kubectl("create", "deployment", "guarded", f"--image={BUSYBOX}", "--replicas=2", "--", *SLEEPER)
    kubectl("rollout", "status", "deploy/guarded", "--timeout=90s")
    budget = client.V1PodDisruptionBudget(
        metadata=client.V1ObjectMeta(name="guarded"),
        spec=client.V1PodDisruptionBudgetSpec(
            min_available=2, selector=client.V1LabelSelector(match_labels={"app": "guarded"})
        ),
    )
    policy.create_namespaced_pod_disruption_budget(ns, budget)
    wait_for(
        lambda: (
            policy.read_namespaced_pod_disruption_budget_status(
                "guarded", ns
            ).status.current_healthy
            == 2
        ),
        "the budget's status",
    )
    pod = core.list_namespaced_pod(ns, label_selector="app=guarded").items[0]
    eviction = client.V1Eviction(metadata=client.V1ObjectMeta(name=pod.metadata.name, namespace=ns))
    with pytest.raises(client.ApiException) as refused:
        core.create_namespaced_pod_eviction(pod.metadata.name, ns, eviction)
    assert refused.value.status == 429
    node = pod.spec.node_name
    drain = kubectl.popen(
        "drain", node, "--ignore-daemonsets", "--pod-selector=app=guarded", "--timeout=90s"
    )
    try:
        lines: list[str] = []
        assert drain.stdout is not None
        for line in drain.stdout:
            lines.append(line)
            if "Cannot evict pod as it would violate the pod's disruption budget." in line:
                break
        assert any("will retry after 5s" in line for line in lines), "".join(lines)
        assert drain.poll() is None, "the drain waits while the budget forbids it"
        policy.patch_namespaced_pod_disruption_budget("guarded", ns, {"spec": {"minAvailable": 1}})
        rest, _ = drain.communicate(timeout=120)
        assert drain.returncode == 0, "".join(lines) + rest
        assert rest.strip().endswith(f"node/{node} drained")
        remaining = core.list_namespaced_pod(ns, label_selector="app=guarded").items
        assert all(p.spec.node_name != node for p in remaining if not p.metadata.deletion_timestamp)
    finally:
        if drain.poll() is None:
            drain.kill()
            drain.wait()
        Kubectl(cluster.kubeconfig, ns)("uncordon", node)
