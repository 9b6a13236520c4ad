"""Pods consuming Secrets and ServiceAccount tokens, with a real kubelet and real Docker.

One apiserver (Secrets encrypted at rest, ServiceAccount keys), a controller-manager (the
`default` ServiceAccounts and `kube-root-ca.crt`), a kubelet, and a registry that wants a
password. The pods start together; each test then checks its own:
- env from `secretKeyRef` and `envFrom` (with a prefix, an optional missing source);
- a secret volume on tmpfs with `items` and `defaultMode`, updated in place through `..data`;
- the projected `kube-api-access-*` volume: a token that authenticates to the apiserver as the
  pod's ServiceAccount, `ca.crt`, `namespace`; none with `automountServiceAccountToken: false`;
- a pull from the authenticated registry: refused without the imagePullSecret, done with it.
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from tests.e2e.kubelet_support import (
    busybox,
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
from tests.support.controllers import ControllerManager
from tests.support.credentials import apiserver_args
from tests.support.kubelet import DOCKER, Kubelet, docker, remove_containers
from tests.support.processes import Apiserver, Etcd, temp_dir
from tests.support.registry import running_registry
from tests.support.waiting import wait_for

pytestmark = [requires_docker]

MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
SLEEP = "trap 'exit 0' TERM; while true; do sleep 1; done"
USER, PASSWORD = "puller", secrets.token_hex(8)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[Apiserver, Api, Kubelet]]:
    """etcd, apiserver, controller-manager and a kubelet of this module's own."""
    for image in ("minik8s/pause", "minik8s/busybox"):
        if not image_exists(image):
            pytest.fail(f"image {image} is missing: run `make images`")
    work = temp_dir("minik8s-secrets-e2e-")
    etcd = Etcd(work / "etcd")
    etcd.start()
    server = Apiserver(etcd.url, work / "apiserver", token=secrets.token_hex(16),
                       extra_args=apiserver_args(work))  # fmt: skip
    manager: ControllerManager | None = None
    kubelet: Kubelet | None = None
    api: Api | None = None
    try:
        server.start()
        api = Api(server)
        kubeconfig = server.write_kubeconfig(work / "kubeconfig")
        controllers = [
            "--leader-elect=false",
            "--controllers=serviceaccount,root-ca-cert-publisher",
        ]
        manager = ControllerManager(kubeconfig, work / "controller-manager.log", controllers)
        manager.start()
        kubelet = Kubelet(kubeconfig, work / "kubelet")
        kubelet.start()
        kubelet.wait_ready(api)
        yield server, api, kubelet
    finally:
        if kubelet is not None:
            if api is not None:
                _delete_pods(api, kubelet)
            kubelet.stop()
            remove_containers(kubelet.node_name)
            _unmount(work)
        if manager is not None:
            manager.stop()
        if api is not None:
            api.close()
        server.stop()
        etcd.stop()
        shutil.rmtree(work, ignore_errors=True)


def _delete_pods(api: Api, kubelet: Kubelet) -> None:
    """Delete every pod and wait for the kubelet to remove them (and unmount their tmpfs)."""
    items = api.get("/api/v1/pods").json().get("items", [])
    for item in items:
        meta = item["metadata"]
        api.delete(f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}",
                   {"gracePeriodSeconds": 0})  # fmt: skip
    try:
        wait_for(lambda: not api.get("/api/v1/pods").json().get("items"),
                 "every pod removed by the kubelet", timeout=30)  # fmt: skip
    except AssertionError:
        pass  # _unmount below still cleans up


def _unmount(work: Path) -> None:
    """Whatever tmpfs the kubelet left under the work directory (it should leave none)."""
    prefix = str(work.resolve())
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    for point in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", point], capture_output=True, timeout=20)


@pytest.fixture(scope="module")
def registry() -> Iterator[str]:
    with running_registry({USER: PASSWORD}) as host:
        yield host


@pytest.fixture(scope="module")
def private_image(registry: str) -> Iterator[str]:
    """An image pushed to the authenticated registry and absent locally (docker login with a
    configuration directory of its own: the machine's ~/.docker is left alone)."""
    config = temp_dir("minik8s-docker-config-")
    ref = f"{registry}/minik8s-test/private:{uuid.uuid4().hex[:10]}"
    dockerfile = f"FROM minik8s/busybox\nLABEL minik8s.test={uuid.uuid4().hex}\n"
    try:
        built = subprocess.run([DOCKER, "build", "-q", "-t", ref, "-"], input=dockerfile,
                               capture_output=True, text=True, timeout=120)  # fmt: skip
        assert built.returncode == 0, built.stderr
        login = subprocess.run(
            [DOCKER, "--config", str(config), "login", registry, "-u", USER, "--password-stdin"],
            input=PASSWORD, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert login.returncode == 0, login.stderr
        pushed = subprocess.run([DOCKER, "--config", str(config), "push", ref],
                                capture_output=True, text=True, timeout=120)  # fmt: skip
        assert pushed.returncode == 0, pushed.stderr
        docker("rmi", ref)
        assert not image_exists(ref)
        yield ref
    finally:
        docker("rmi", "-f", ref, check=False)
        shutil.rmtree(config, ignore_errors=True)


@pytest.fixture(scope="module")
def pods(
    cluster: tuple[Apiserver, Api, Kubelet], registry: str, private_image: str
) -> dict[str, Any]:
    """Every pod of the module, created at once (they start in parallel)."""
    _, api, kubelet = cluster
    ns = api.namespace()
    wait_for(lambda: api.get(f"/api/v1/namespaces/{ns}/serviceaccounts/default").status_code
             == 200, f"the default ServiceAccount of {ns}")  # fmt: skip
    docker_config = {"auths": {registry: {"username": USER, "password": PASSWORD,
                                          "auth": b64(f"{USER}:{PASSWORD}")}}}  # fmt: skip
    for body in (
        {"metadata": {"name": "app"}, "stringData": {"user": "admin", "password": "s3cret"}},
        {"metadata": {"name": "regcred"}, "type": "kubernetes.io/dockerconfigjson",
         "stringData": {".dockerconfigjson": json.dumps(docker_config)}},
    ):  # fmt: skip
        r = api.post(f"/api/v1/namespaces/{ns}/secrets", {"apiVersion": "v1", **body})
        assert r.status_code == 201, r.text
    node = kubelet.node_name
    consumer = busybox("c", SLEEP, env=[
        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "app", "key": "password"}}},
        {"name": "MAYBE", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k",
                                                         "optional": True}}},
    ], envFrom=[
        {"prefix": "APP_", "secretRef": {"name": "app"}},
        {"secretRef": {"name": "absent", "optional": True}},
    ], volumeMounts=[{"name": "creds", "mountPath": "/etc/creds", "readOnly": True}])  # fmt: skip
    creds = {"name": "creds", "secret": {"secretName": "app", "defaultMode": 0o400,
             "items": [{"key": "password", "path": "db/password"}]}}  # fmt: skip
    # Always: the authorized pod's pull must not let the anonymous one use the local copy.
    private = {"name": "c", "image": private_image, "imagePullPolicy": "Always",
               "command": ["sh", "-c", SLEEP]}  # fmt: skip
    manifests = [
        pod("consumer", node, [consumer], volumes=[creds]),
        pod("no-token", node, [busybox("c", SLEEP)], automountServiceAccountToken=False),
        pod("anonymous", node, [private]),
        pod("authorized", node, [private], imagePullSecrets=[{"name": "regcred"}]),
    ]
    created = {m["metadata"]["name"]: create(api, ns, m) for m in manifests}
    return {"ns": ns, "created": created}


def exec_in(api: Api, ns: str, name: str, kubelet: Kubelet, *command: str) -> str:
    p = wait_pod(api, ns, name, running, "Running", timeout=60, kubelet=kubelet)
    cid = container_status(p, "c")["containerID"].removeprefix("docker://")
    result = subprocess.run([DOCKER, "exec", cid, *command], capture_output=True, text=True,
                            timeout=30)  # fmt: skip
    assert result.returncode == 0, f"{command}: {result.stderr}"
    return result.stdout


def test_env_from_secrets(cluster: tuple[Apiserver, Api, Kubelet], pods: dict[str, Any]) -> None:
    _, api, kubelet = cluster
    env = dict(
        line.split("=", 1)
        for line in exec_in(api, pods["ns"], "consumer", kubelet, "env").splitlines()
        if "=" in line
    )
    assert env["DB_PASSWORD"] == "s3cret"
    assert env["APP_user"] == "admin" and env["APP_password"] == "s3cret"
    assert "MAYBE" not in env


def test_a_secret_volume_on_tmpfs_is_updated_in_place(
    cluster: tuple[Apiserver, Api, Kubelet], pods: dict[str, Any]
) -> None:
    _, api, kubelet = cluster
    ns = pods["ns"]

    def run(*command: str) -> str:
        return exec_in(api, ns, "consumer", kubelet, *command)

    assert run("cat", "/etc/creds/db/password") == "s3cret"
    assert run("stat", "-L", "-c", "%a", "/etc/creds/db/password").strip() == "400"
    assert "..data" in run("ls", "-a", "/etc/creds").split()
    mounts = run("cat", "/proc/mounts")
    assert any(" /etc/creds tmpfs ro" in line for line in mounts.splitlines()), mounts

    r = api.patch(f"/api/v1/namespaces/{ns}/secrets/app", {"stringData": {"password": "rotated"}},
                  "application/merge-patch+json")  # fmt: skip
    assert r.status_code == 200, r.text
    wait_for(lambda: run("cat", "/etc/creds/db/password") == "rotated",
             "the secret volume to show the new password", timeout=20)  # fmt: skip


def test_the_projected_token_authenticates_as_the_pods_service_account(
    cluster: tuple[Apiserver, Api, Kubelet], pods: dict[str, Any]
) -> None:
    server, api, kubelet = cluster
    ns = pods["ns"]
    token = exec_in(api, ns, "consumer", kubelet, "cat", f"{MOUNT}/token")
    assert exec_in(api, ns, "consumer", kubelet, "cat", f"{MOUNT}/namespace") == ns
    assert server.ca_file is not None
    ca = exec_in(api, ns, "consumer", kubelet, "cat", f"{MOUNT}/ca.crt")
    assert ca == server.ca_file.read_text()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 3607
    assert claims["kubernetes.io"]["pod"]["name"] == "consumer"
    assert claims["kubernetes.io"]["node"]["name"] == kubelet.node_name

    as_pod = Api(server)
    as_pod.http.headers["Authorization"] = f"Bearer {token}"
    try:
        review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        r = as_pod.post("/apis/authentication.k8s.io/v1/selfsubjectreviews", review)
        assert r.status_code == 201, r.text
        user = r.json()["status"]["userInfo"]
        assert user["username"] == f"system:serviceaccount:{ns}:default"
        assert user["extra"]["authentication.kubernetes.io/pod-name"] == ["consumer"]
        assert as_pod.get(f"/api/v1/namespaces/{ns}/pods").status_code == 200
    finally:
        as_pod.close()


def test_no_token_without_automount(
    cluster: tuple[Apiserver, Api, Kubelet], pods: dict[str, Any]
) -> None:
    _, api, kubelet = cluster
    listing = exec_in(api, pods["ns"], "no-token", kubelet, "sh", "-c",
                      "ls /var/run/secrets 2>&1 || true")  # fmt: skip
    assert "kubernetes.io" not in listing
    assert "volumes" not in pods["created"]["no-token"]["spec"]


def test_a_private_image_is_pulled_only_with_its_pull_secret(
    cluster: tuple[Apiserver, Api, Kubelet], pods: dict[str, Any], private_image: str
) -> None:
    _, api, kubelet = cluster
    ns = pods["ns"]
    p = wait_pod(api, ns, "authorized", running, "Running from the private registry", timeout=60,
                 kubelet=kubelet)  # fmt: skip
    assert container_status(p, "c")["image"] == private_image
    refused = wait_pull_back_off(api, ns, "anonymous", kubelet)
    message = container_status(refused, "c")["state"]["waiting"].get("message", "")
    assert "unauthorized" in message or "no basic auth credentials" in message, message


def test_deleting_the_pod_unmounts_its_volumes(
    cluster: tuple[Apiserver, Api, Kubelet], pods: dict[str, Any]
) -> None:
    """Last in this module: it deletes the consumer pod."""
    _, api, kubelet = cluster
    ns, uid = pods["ns"], pods["created"]["consumer"]["metadata"]["uid"]
    pod_dir = (kubelet.work_dir / "root" / kubelet.node_name / "pods" / uid).resolve()

    def mounts() -> list[str]:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
        return [line.split()[4] for line in lines if line.split()[4].startswith(str(pod_dir))]

    assert len(mounts()) == 2, "the secret and the kube-api-access volumes are tmpfs"
    assert api.delete(f"/api/v1/namespaces/{ns}/pods/consumer").status_code == 200
    wait_for(lambda: api.get(f"/api/v1/namespaces/{ns}/pods/consumer").status_code == 404,
             "the consumer pod to be gone", timeout=45)  # fmt: skip
    assert mounts() == [] and not pod_dir.exists()
