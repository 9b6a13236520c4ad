"""Server-side apply with real clients: kubectl 1.32 and the official Python client."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml

from tests.support.api import Api

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")


def manifest(replicas: int, image: str = "nginx:1", **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
            **extra,
        },
    }


class Kubectl:
    def __init__(self, kubeconfig: Path, namespace: str, tmp: Path) -> None:
        self.base = ["kubectl", "--kubeconfig", str(kubeconfig), "-n", namespace]
        self.tmp = tmp

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([*self.base, *args], capture_output=True, text=True, timeout=60)
        if check:
            assert result.returncode == 0, f"kubectl {' '.join(args)}:\n{result.stderr}"
        return result

    def apply(self, document: dict[str, Any], *flags: str, check: bool = True) -> Any:
        path = self.tmp / "manifest.yaml"
        path.write_text(yaml.safe_dump(document))
        return self("apply", "-f", str(path), *flags, check=check)

    def managers(self) -> dict[str, dict[str, Any]]:
        got = yaml.safe_load(
            self("get", "deploy", "web", "-o", "yaml", "--show-managed-fields").stdout
        )
        return {e["manager"]: e for e in got["metadata"]["managedFields"]}


@pytest.fixture()
def kubectl(kubeconfig: Path, ns: str, tmp_path: Path) -> Kubectl:
    return Kubectl(kubeconfig, ns, tmp_path)


def test_conflict_then_force_conflicts(kubectl: Kubectl) -> None:
    kubectl.apply(manifest(2), "--server-side", "--field-manager=team-a")
    result = kubectl.apply(manifest(3), "--server-side", "--field-manager=team-b", check=False)
    assert result.returncode != 0
    assert 'Apply failed with 1 conflict: conflict with "team-a": .spec.replicas' in result.stderr
    kubectl.apply(manifest(3), "--server-side", "--field-manager=team-b", "--force-conflicts")
    assert kubectl("get", "deploy", "web", "-o", "jsonpath={.spec.replicas}").stdout == "3"
    managers = kubectl.managers()
    assert managers["team-b"]["operation"] == "Apply"
    assert "f:replicas" in managers["team-b"]["fieldsV1"]["f:spec"]
    assert "f:replicas" not in managers["team-a"]["fieldsV1"]["f:spec"]


def test_server_side_apply_after_client_side_apply_takes_ownership(kubectl: Kubectl) -> None:
    kubectl.apply(manifest(2))
    assert kubectl.managers()["kubectl-client-side-apply"]["operation"] == "Update"
    kubectl.apply(manifest(4, image="nginx:2"), "--server-side")
    assert kubectl("get", "deploy", "web", "-o", "jsonpath={.spec.replicas}").stdout == "4"
    managers = kubectl.managers()
    assert "kubectl-client-side-apply" not in managers
    assert managers["kubectl"]["operation"] == "Apply"
    # A field dropped from the configuration goes away (nobody else owns it).
    kubectl.apply(manifest(4, image="nginx:2", minReadySeconds=5), "--server-side")
    assert kubectl("get", "deploy", "web", "-o", "jsonpath={.spec.minReadySeconds}").stdout == "5"
    kubectl.apply(manifest(4, image="nginx:2"), "--server-side")
    assert kubectl("get", "deploy", "web", "-o", "jsonpath={.spec.minReadySeconds}").stdout == ""


def test_updates_record_their_manager(kubectl: Kubectl) -> None:
    kubectl.apply(manifest(2), "--server-side", "--field-manager=owner")
    kubectl("scale", "deploy", "web", "--replicas=5")
    scale = kubectl.managers()["kubectl"]
    assert scale["operation"] == "Update" and scale["subresource"] == "scale"
    assert scale["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    result = kubectl.apply(manifest(2), "--server-side", "--field-manager=owner", check=False)
    assert 'conflict with "kubectl" with subresource "scale" using apps/v1' in result.stderr


def test_python_dynamic_client_server_side_apply(api: Api, ns: str, kubeconfig: Path) -> None:
    client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
    try:
        dynamic = kubernetes.dynamic.DynamicClient(client)
        deployments = dynamic.resources.get(api_version="apps/v1", kind="Deployment")
        applied = deployments.server_side_apply(
            body=manifest(1), namespace=ns, name="web", field_manager="python"
        )
        assert applied.spec.replicas == 1
        assert applied.metadata.managedFields[0].manager == "python"
        with pytest.raises(kubernetes.dynamic.exceptions.ConflictError):
            deployments.server_side_apply(
                body=manifest(2), namespace=ns, name="web", field_manager="other"
            )
    finally:
        client.close()
    r = api.patch(
        f"/apis/apps/v1/namespaces/{ns}/deployments/web",
        yaml.safe_dump(manifest(2)),
        "application/apply-patch+yaml",
    )
    assert r.status_code == 422
    assert r.json()["details"]["causes"][0]["field"] == "fieldManager"
