"""The kubelet's real pull path, against a local registry (Debian's docker-registry package).

The registry listens on 127.0.0.1 over plain HTTP: Docker trusts loopback registries without
any daemon configuration. A pushed image that was removed locally is pulled back; a tag the
registry does not have is ErrImagePull even when an image of that name is present locally
("not found" is not an offline error); a registry that does not answer at all lets the
kubelet use the local image, with a Warning.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.kubelet_support import (
    container_status,
    create,
    image_exists,
    pod,
    requires_docker,
    running,
    wait_pod,
    wait_pull_back_off,
)
from tests.support.api import Api
from tests.support.kubelet import DOCKER, Kubelet, containers, docker
from tests.support.processes import free_port
from tests.support.registry import running_registry
from tests.support.waiting import wait_for

pytestmark = [requires_docker]

REPOSITORY = "minik8s-test/busybox"


@pytest.fixture(scope="module")
def registry() -> Iterator[str]:
    """A registry of this module's own on a free loopback port; its `host:port`."""
    with running_registry() as host:
        yield host


@pytest.fixture()
def cleanup(api_m: Api, kubelet: Kubelet, ns: str) -> Iterator[list[str]]:
    """Images the test registers here are removed after its pods and their containers."""
    images: list[str] = []
    yield images
    pods = f"/api/v1/namespaces/{ns}/pods"
    try:
        for item in api_m.get(pods).json().get("items", []):
            api_m.delete(f"{pods}/{item['metadata']['name']}", {"gracePeriodSeconds": 1})

        def gone() -> bool:
            return not api_m.get(pods).json().get("items")

        wait_for(gone, f"the pods of {ns} to be deleted", timeout=30)
    finally:
        ids = containers(kubelet.node_name, f"minik8s.namespace={ns}")
        if ids:
            docker("rm", "-f", "-v", *ids, check=False)
        if images:
            docker("rmi", "-f", *images, check=False)


def unique_tag() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def image_id(name: str) -> str:
    return str(json.loads(docker("image", "inspect", name))[0]["Id"])


def build_unique_image(ref: str) -> str:
    """Build `ref` from minik8s/busybox with a unique label, so that its image id is new."""
    dockerfile = f"FROM minik8s/busybox\nLABEL minik8s.test={uuid.uuid4().hex}\n"
    result = subprocess.run(
        [DOCKER, "build", "-q", "-t", ref, "-"],
        input=dockerfile,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"docker build {ref} failed: {result.stderr}"
    return image_id(ref)


def sleeper(image: str, policy: str) -> dict[str, Any]:
    return {
        "name": "c",
        "image": image,
        "imagePullPolicy": policy,
        "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"],
    }


def events(api: Api, ns: str, pod_name: str) -> list[dict[str, Any]]:
    r = api.get(f"/api/v1/namespaces/{ns}/events")
    assert r.status_code == 200, r.text
    return [e for e in r.json()["items"] if e["involvedObject"].get("name") == pod_name]


def wait_event(api: Api, ns: str, pod_name: str, reason: str, text: str) -> dict[str, Any]:
    def found() -> list[dict[str, Any]]:
        return [
            e for e in events(api, ns, pod_name) if e["reason"] == reason and text in e["message"]
        ]

    return wait_for(found, f"a {reason} Event about {ns}/{pod_name} saying {text!r}", 20, 0.1)[0]


def test_an_image_pushed_then_removed_locally_is_pulled_from_the_registry(
    registry: str, api_m: Api, kubelet: Kubelet, ns: str, cleanup: list[str]
) -> None:
    ref = f"{registry}/{REPOSITORY}:{unique_tag()}"
    cleanup.append(ref)
    pushed_id = build_unique_image(ref)
    docker("push", ref)  # plain HTTP to a loopback registry: no daemon configuration needed
    docker("rmi", ref)
    assert not image_exists(ref) and not image_exists(pushed_id), "the image is still local"

    create(api_m, ns, pod("pulled", kubelet.node_name, [sleeper(ref, "IfNotPresent")]))
    p = wait_pod(
        api_m, ns, "pulled", running, f"Running with {ref} pulled", timeout=60, kubelet=kubelet
    )

    assert image_exists(ref), f"{ref} is not present locally after the pod started"
    assert image_id(ref) == pushed_id
    status = container_status(p, "c")
    assert status["image"] == ref
    assert status["imageID"] == pushed_id, status
    cid = status["containerID"].removeprefix("docker://")
    assert json.loads(docker("inspect", cid))[0]["Image"] == pushed_id
    wait_event(api_m, ns, "pulled", "Pulled", f'Successfully pulled image "{ref}"')


def test_a_tag_missing_from_the_registry_is_errimagepull_not_the_local_image(
    registry: str, api_m: Api, kubelet: Kubelet, ns: str, cleanup: list[str]
) -> None:
    tag = f"missing-{unique_tag()}"
    ref = f"{registry}/{REPOSITORY}:{tag}"
    cleanup.append(ref)
    docker("tag", "minik8s/busybox", ref)  # present locally, never pushed
    manifest = httpx.head(f"http://{registry}/v2/{REPOSITORY}/manifests/{tag}", timeout=5)
    assert manifest.status_code == 404, manifest

    create(api_m, ns, pod("missing", kubelet.node_name, [sleeper(ref, "Always")]))
    p = wait_pull_back_off(api_m, ns, "missing", kubelet)
    assert p["status"]["phase"] == "Pending"
    failed = wait_event(api_m, ns, "missing", "Failed", f'Failed to pull image "{ref}"')
    assert "not found" in failed["message"] or "manifest unknown" in failed["message"], failed
    assert "PullUnreachableUsingLocal" not in {e["reason"] for e in events(api_m, ns, "missing")}
    assert "containerID" not in container_status(p, "c")
    assert containers(kubelet.node_name, f"minik8s.namespace={ns}", "minik8s.container=c") == []


def test_an_unreachable_registry_falls_back_to_the_local_image(
    api_m: Api, kubelet: Kubelet, ns: str, cleanup: list[str]
) -> None:
    ref = f"127.0.0.1:{free_port()}/{REPOSITORY}:{unique_tag()}"  # nothing listens there
    cleanup.append(ref)
    docker("tag", "minik8s/busybox", ref)

    create(api_m, ns, pod("offline", kubelet.node_name, [sleeper(ref, "Always")]))
    p = wait_pod(api_m, ns, "offline", running, "Running on the local image", kubelet=kubelet)
    assert container_status(p, "c")["imageID"] == image_id(ref)
    wait_event(api_m, ns, "offline", "PullUnreachableUsingLocal", f'"{ref}"')
