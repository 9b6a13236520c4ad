"""Three etcd members and an apiserver given all of them: SIGKILL the member it uses in the
middle of a Deployment rollout, and the rollout completes through the other two."""

from __future__ import annotations

import shutil
import signal
from collections.abc import Iterator

import pytest

from tests.support.api import Api, deployment_manifest
from tests.support.controllers import ControllerManager, FakeKubelet, live, pods
from tests.support.processes import Apiserver, Etcd, etcd_cluster, temp_dir
from tests.support.waiting import wait_for


@pytest.fixture()
def members() -> Iterator[list[Etcd]]:
    work = temp_dir("minik8s-etcd-ha-")
    started: list[Etcd] = []
    try:
        started = etcd_cluster(work, 3)
        yield started
    finally:
        for member in started:
            member.stop()
        shutil.rmtree(work, ignore_errors=True)


def test_rollout_survives_losing_the_etcd_member_in_use(members: list[Etcd]) -> None:
    work = temp_dir("minik8s-etcd-ha-api-")
    apiserver = Apiserver(",".join(m.url for m in members), work / "apiserver")
    controllers: ControllerManager | None = None
    try:
        apiserver.start()
        api = Api(apiserver)
        controllers = ControllerManager(apiserver.write_kubeconfig(work / "kubeconfig"),
                                        work / "controller-manager.log")  # fmt: skip
        controllers.start()
        ns = api.namespace()
        deployments = f"/apis/apps/v1/namespaces/{ns}/deployments"
        with FakeKubelet(api, ns) as kubelet:
            assert api.post(deployments, deployment_manifest("web", replicas=6)).status_code == 201
            wait_for(lambda: len([p for p in live(pods(api, ns)) if p["status"].get("podIP")])
                     == 6, "6 web pods running", 30)  # fmt: skip
            r = api.patch(
                f"{deployments}/web",
                {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "v2"}]}}}},
                "application/strategic-merge-patch+json",
            )
            assert r.status_code == 200, r.text
            members[0].stop(signal.SIGKILL)  # the first --etcd-servers endpoint: the one in use

            def rolled_out() -> bool:
                status = api.get(f"{deployments}/web").json()["status"]
                images = {p["spec"]["containers"][0]["image"] for p in live(pods(api, ns))}
                return (
                    status.get("updatedReplicas") == 6
                    and status.get("availableReplicas") == 6
                    and status.get("replicas") == 6
                    and images == {"v2"}
                )

            wait_for(rolled_out, "the rollout to complete on the two other members", 60)
            assert not kubelet.errors, kubelet.errors
        assert apiserver.process is not None
        log = apiserver.process.log_path.read_text()
        assert "did not answer; using" in log, log[-3000:]
        api.close()
    finally:
        if controllers is not None:
            controllers.stop()
        apiserver.stop()
        shutil.rmtree(work, ignore_errors=True)
