"""A small kopf operator (run by test_kopf.py with `kopf run --standalone`).

A ConfigMap labelled `minik8s.io/operator=yes` owns a Deployment of the same name whose
replica count is the ConfigMap's `data.replicas`; deleting the ConfigMap deletes the
Deployment (kopf's finalizer holds the deletion until the handler has run).
"""

from __future__ import annotations

from typing import Any

import kopf
import kubernetes

SELECT = {"minik8s.io/operator": "yes"}


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.watching.server_timeout = 30
    settings.persistence.finalizer = "minik8s.io/conformance"
    kubernetes.config.load_kube_config()


def deployment(name: str, replicas: int) -> dict[str, Any]:
    container = {
        "name": "main",
        "image": "minik8s/busybox:latest",
        "imagePullPolicy": "IfNotPresent",
        "command": ["sleep", "3600"],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [container], "terminationGracePeriodSeconds": 1},
            },
        },
    }


@kopf.on.create("configmaps", labels=SELECT)
def created(name: str, namespace: str, body: Any, logger: Any, **_: Any) -> dict[str, str]:
    manifest = deployment(name, int(body.get("data", {}).get("replicas", "1")))
    kubernetes.client.AppsV1Api().create_namespaced_deployment(namespace, manifest)
    kopf.info(body, reason="DeploymentCreated", message=f"created deployment {name}")
    return {"deployment": name}  # kopf patches it into status.created (a ConfigMap drops it)


@kopf.on.update("configmaps", labels=SELECT, field="data")
def updated(name: str, namespace: str, new: Any, body: Any, **_: Any) -> None:
    replicas = int((new or {}).get("replicas", "1"))
    patch = {"spec": {"replicas": replicas}}
    kubernetes.client.AppsV1Api().patch_namespaced_deployment(name, namespace, patch)
    kopf.info(body, reason="DeploymentScaled", message=f"scaled deployment {name} to {replicas}")


@kopf.on.delete("configmaps", labels=SELECT)
def deleted(name: str, namespace: str, **_: Any) -> None:
    kubernetes.client.AppsV1Api().delete_namespaced_deployment(name, namespace)
