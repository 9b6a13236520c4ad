"""kopf as the judge: an operator sees events, patches, posts Events, and finalizes deletions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conformance.conftest import Kubectl
from tests.support.launcher import Launcher
from tests.support.waiting import wait_for

pytestmark = pytest.mark.conformance

OPERATOR = Path(__file__).with_name("kopf_operator.py")
KOPF = [sys.executable, "-m", "kopf"]


@pytest.fixture()
def operator(cluster: Launcher, ns: str, tmp_path: Path) -> Iterator[Path]:
    log = tmp_path / "kopf.log"
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    with log.open("w") as out:
        process = subprocess.Popen(
            [*KOPF, "run", "--standalone", "-n", ns, str(OPERATOR)],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp_path,
        )  # fmt: skip
    try:
        yield log
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def test_operator_creates_updates_and_finalizes(kubectl: Kubectl, operator: Path) -> None:
    def log() -> str:
        return operator.read_text()

    manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "app1", "labels": {"minik8s.io/operator": "yes"}},
        "data": {"replicas": "1"},
    }
    wait_for(lambda: "Initial authentication has finished" in log(), "kopf to start", 30)
    path = operator.with_name("cm.json")
    path.write_text(json.dumps(manifest))
    kubectl("apply", "-f", str(path))

    def deployment_replicas() -> str:
        return kubectl(
            "get", "deploy", "app1", "-o", "jsonpath={.spec.replicas}", check=False
        ).stdout

    wait_for(lambda: deployment_replicas() == "1", f"the operator to create app1\n{log()}", 30)
    cm = json.loads(kubectl("get", "cm", "app1", "-o", "json").stdout)
    assert "minik8s.io/conformance" in cm["metadata"]["finalizers"]

    # kopf merge-patches the handler's result into `status.created`; a ConfigMap has no
    # status, so the apiserver drops the field as Kubernetes does, and kopf says so.
    wait_for(
        lambda: "Merge-patching finished with inconsistencies" in log(),
        "kopf to notice that a ConfigMap keeps no status",
        30,
    )
    assert "status" not in json.loads(kubectl("get", "cm", "app1", "-o", "json").stdout)

    kubectl("patch", "cm", "app1", "--type=merge", "-p", '{"data":{"replicas":"2"}}')
    wait_for(lambda: deployment_replicas() == "2", f"the operator to scale app1\n{log()}", 30)

    def reasons() -> set[str]:
        out = kubectl("get", "events", "--field-selector", "involvedObject.name=app1",
                      "-o", "jsonpath={.items[*].reason}").stdout  # fmt: skip
        return set(out.split())

    wait_for(lambda: {"DeploymentCreated", "DeploymentScaled"} <= reasons(), "kopf's Events", 30)

    deleted = kubectl("delete", "cm", "app1", "--timeout=30s")  # waits for the finalizer
    assert deleted.stdout.strip() == 'configmap "app1" deleted'
    gone = kubectl("get", "deploy", "app1", check=False)
    assert gone.returncode == 1 and "not found" in gone.stderr
    assert "Handler 'deleted' succeeded" in log()
