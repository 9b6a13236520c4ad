"""Why a container has no logs yet, worded as Kubernetes' kubelet words it."""

from __future__ import annotations

import pytest

from minik8s.kubelet import logstatus


def pod_with(state: dict | None, field: str = "containerStatuses") -> dict:
    statuses = [] if state is None else [{"name": "c", "state": state}]
    return {"metadata": {"name": "p"}, "status": {field: statuses}}


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (None, 'container "c" in pod "p" is not available'),
        ({"waiting": {"reason": "ContainerCreating"}},
         'container "c" in pod "p" is waiting to start: ContainerCreating'),
        ({"waiting": {"reason": "ErrImagePull"}},
         'container "c" in pod "p" is waiting to start: image can\'t be pulled'),
        ({"waiting": {"reason": "ImagePullBackOff"}},
         'container "c" in pod "p" is waiting to start: trying and failing to pull image'),
        ({"terminated": {"exitCode": 1}}, 'container "c" in pod "p" is terminated'),
        ({}, 'container "c" in pod "p" is waiting to start - no logs yet'),
    ],
)  # fmt: skip
def test_the_reason_follows_the_container_state(state: dict | None, message: str) -> None:
    assert logstatus.not_started(pod_with(state), "c") == message


def test_init_container_statuses_count() -> None:
    pod = pod_with({"waiting": {"reason": "PodInitializing"}}, "initContainerStatuses")
    assert logstatus.not_started(pod, "c").endswith("is waiting to start: PodInitializing")
