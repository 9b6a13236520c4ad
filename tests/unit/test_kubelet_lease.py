"""The kubelet's Lease renewal, as Kubernetes' node lease controller does it: a failed update
is retried at once, reading the Lease again after a conflict, and a slow node status write
never delays a renewal."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from minik8s.api import errors
from minik8s.kubelet import config, node
from minik8s.kubelet.runtime.fake import FakeRuntime
from tests.support.waiting import async_wait_for


class LeaseApi:
    """The apiserver's Lease as the kubelet sees it; `fail` lists what the next updates meet
    (None: applied), "lost" being an update applied whose answer never came."""

    def __init__(self, fail: list[str | None]) -> None:
        self.lease: dict[str, Any] = {"metadata": {"name": "n", "resourceVersion": "1"},
                                      "spec": {}}  # fmt: skip
        self.fail = fail
        self.calls: list[str] = []

    async def get(self, rt: Any, name: str, namespace: str) -> dict[str, Any]:
        self.calls.append("get")
        return self.lease

    async def update(self, rt: Any, obj: dict[str, Any]) -> dict[str, Any]:
        self.calls.append("update")
        outcome = self.fail.pop(0) if self.fail else None
        if obj["metadata"]["resourceVersion"] != self.lease["metadata"]["resourceVersion"]:
            raise errors.Conflict("the object has been modified")
        if outcome == "timeout":
            raise errors.Timeout("the server was too slow")
        version = str(int(self.lease["metadata"]["resourceVersion"]) + 1)
        self.lease = {"metadata": {**obj["metadata"], "resourceVersion": version},
                      "spec": obj["spec"]}  # fmt: skip
        if outcome == "lost":
            raise errors.Timeout("no answer")
        return self.lease


def agent(api: LeaseApi, period: float = 10.0) -> node.NodeAgent:
    settings = dataclasses.replace(
        config.parse_args(["--node-name", "n"]), node_status_update_frequency=period
    )
    a = node.NodeAgent(settings, client=api, runtime=FakeRuntime())  # type: ignore[arg-type]
    a.node = {"metadata": {"name": "n", "uid": "u"}}
    return a


async def test_a_renewal_whose_answer_was_lost_reads_the_lease_again_and_renews_at_once() -> None:
    api = LeaseApi(["lost"])
    kubelet = agent(api)
    kubelet.lease = api.lease
    await kubelet.renew_lease()
    # the lost update was applied; the retry on the old version conflicts, reads, renews
    assert api.calls == ["update", "update", "get", "update"]
    assert api.lease["metadata"]["resourceVersion"] == "3"


async def test_a_renewal_gives_up_after_five_attempts() -> None:
    api = LeaseApi(["timeout"] * 5)
    kubelet = agent(api)
    kubelet.lease = api.lease
    with pytest.raises(errors.Timeout):
        await kubelet.renew_lease()
    assert api.calls.count("update") == node.MAX_UPDATE_RETRIES


async def test_a_slow_status_write_does_not_delay_the_lease() -> None:
    api = LeaseApi([])
    kubelet = agent(api, period=0.01)
    kubelet.lease = api.lease
    stuck = asyncio.Event()

    async def update_status(force: bool = False) -> bool:
        await stuck.wait()  # a status write that never finishes
        return True

    kubelet.update_status = update_status  # type: ignore[method-assign]
    loop = asyncio.create_task(kubelet.run())

    async def renewed_three_times() -> bool:
        return api.calls.count("update") >= 3

    try:
        await async_wait_for(renewed_three_times, "three renewals while the status write hangs", 5)
    finally:
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop
