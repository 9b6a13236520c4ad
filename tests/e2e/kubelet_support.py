"""Fixtures and helpers shared by the kubelet e2e tests (real dockerd, etcd, apiserver)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from minik8s.api import meta
from tests.support.api import Api
from tests.support.kubelet import Kubelet, docker, docker_available, remove_containers
from tests.support.processes import Apiserver, temp_dir
from tests.support.waiting import wait_for

Pod = dict[str, Any]

requires_docker = pytest.mark.skipif(
    not docker_available(), reason="no Docker engine: run `make dockerd images`"
)


def kubectl(kubeconfig: Path, ns: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Real kubectl against the test's apiserver, in namespace `ns`."""
    return subprocess.run(
        ["kubectl", f"--kubeconfig={kubeconfig}", "-n", ns, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def image_exists(name: str) -> bool:
    return (
        subprocess.run(
            [shutil.which("docker") or "docker", "image", "inspect", name], capture_output=True
        ).returncode
        == 0
    )


@pytest.fixture(scope="module")
def api_m(apiserver: Apiserver) -> Iterator[Api]:
    client = Api(apiserver)
    yield client
    client.close()


@pytest.fixture(scope="module")
def kubeconfig_m(apiserver: Apiserver) -> Iterator[Path]:
    work = temp_dir("minik8s-kubeconfig-")
    yield apiserver.write_kubeconfig(work / "kubeconfig")
    shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def kubelet(api_m: Api, kubeconfig_m: Path) -> Iterator[Kubelet]:
    """One real kubelet (unique node name) for the module; its containers removed after."""
    for image in ("minik8s/pause", "minik8s/busybox", "nginx"):
        if not image_exists(image):
            pytest.fail(f"image {image} is missing: run `make images`")
    with running_kubelet(api_m, kubeconfig_m) as k:
        yield k


@contextlib.contextmanager
def running_kubelet(api: Api, kubeconfig: Path) -> Iterator[Kubelet]:
    """A real kubelet with a unique node name, Ready; stopped and its containers removed."""
    work = temp_dir("minik8s-kubelet-")
    k = Kubelet(kubeconfig, work)
    k.start()
    try:
        k.wait_ready(api)
        yield k
    finally:
        k.stop()
        remove_containers(k.node_name)
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture()
def ns(api_m: Api, kubelet: Kubelet) -> Iterator[str]:
    """A namespace of this test's own; the containers of its pods are removed after the test."""
    name = api_m.namespace()
    yield name
    ids = docker(
        "ps",
        "-aq",
        "--filter",
        f"label=minik8s.node={kubelet.node_name}",
        "--filter",
        f"label=minik8s.namespace={name}",
    ).split()
    if ids:
        docker("rm", "-f", "-v", *ids, check=False)


def pod(name: str, node: str, containers: list[dict[str, Any]], **spec: Any) -> Pod:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"nodeName": node, "containers": containers, **spec},
    }


def busybox(name: str, script: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "image": "minik8s/busybox",
        "imagePullPolicy": "IfNotPresent",
        "command": ["sh", "-c", script],
        **extra,
    }


def create(api: Api, ns: str, manifest: Pod) -> Pod:
    r = api.post(f"/api/v1/namespaces/{ns}/pods", manifest)
    assert r.status_code == 201, r.text
    return r.json()


def get(api: Api, ns: str, name: str) -> Pod:
    r = api.get(f"/api/v1/namespaces/{ns}/pods/{name}")
    assert r.status_code == 200, r.text
    return r.json()


def wait_pod(
    api: Api,
    ns: str,
    name: str,
    check: Callable[[Pod], Any],
    what: str,
    timeout: float = 30,
    kubelet: Kubelet | None = None,
) -> Pod:
    last: list[Pod] = []

    def condition() -> Any:
        p = get(api, ns, name)
        last[:] = [p]
        return p if check(p) else None

    try:
        return wait_for(condition, f"pod {ns}/{name}: {what}", timeout=timeout, interval=0.1)
    except AssertionError as e:
        status = last[0].get("status") if last else None
        tail = kubelet.log_tail() if kubelet else ""
        raise AssertionError(f"{e}\nlast status: {status}\nkubelet log:\n{tail}") from e


def running(p: Pod) -> bool:
    return (p.get("status") or {}).get("phase") == "Running"


def ready(p: Pod) -> bool:
    return meta.condition_is_true(p, "Ready")


def container_status(p: Pod, name: str) -> dict[str, Any]:
    for s in (p.get("status") or {}).get("containerStatuses") or []:
        if s["name"] == name:
            return dict(s)
    return {}


def waiting_reason(p: Pod, name: str) -> str | None:
    return (container_status(p, name).get("state") or {}).get("waiting", {}).get("reason")


def wait_pull_back_off(api: Api, ns: str, name: str, kubelet: Kubelet, container: str = "c") -> Pod:
    """Wait until `container`'s pull failed (ErrImagePull) and then backs off; the pod.

    ErrImagePull shows for about a second before the back-off, and the kubelet writes only
    its latest status: on a busy machine the poll may never see it. The back-off's message
    names the pull error it waits after (`Back-off pulling image "x": ErrImagePull: ...`, as
    Kubernetes 1.32 words it), which shows the order as well."""
    seen: set[str] = set()

    def reasons(p: Pod) -> bool:
        reason = waiting_reason(p, container)
        if reason:
            seen.add(reason)
        waiting = (container_status(p, container).get("state") or {}).get("waiting") or {}
        if reason == "ImagePullBackOff" and ": ErrImagePull: " in str(waiting.get("message")):
            seen.add("ErrImagePull")
        return {"ErrImagePull", "ImagePullBackOff"} <= seen

    return wait_pod(api, ns, name, reasons, "ErrImagePull then ImagePullBackOff", kubelet=kubelet)
