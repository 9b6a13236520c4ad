"""The kubelet's node status against a real apiserver: when the node lifecycle controller
marked the Node's conditions Unknown (its heartbeats came late, e.g. a Lease renewal that met
a 504 while etcd changed leaders), the kubelet writes Ready=True again at its next check, as
Kubernetes' kubelet does, not after `node_status_report_frequency` (5 min) during which the
scheduler places no pod on the node (the compose HA e2e's flake: "0/2 nodes are available:
2 node(s) were not ready" for minutes after an apiserver and an etcd member were killed)."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from minik8s.api import errors, meta, times
from minik8s.api.resources import NODES
from minik8s.client.api import ApiClient
from minik8s.client.informer import Informer
from minik8s.client.kubeconfig import load_kubeconfig
from minik8s.controllers import nodelifecycle_plan
from minik8s.kubelet import config, node
from minik8s.kubelet.runtime.fake import FakeRuntime
from tests.support.waiting import async_wait_for

PERIOD = 0.2
"""The kubelet's --node-status-update-frequency here (seconds)."""


@pytest.fixture()
async def client(kubeconfig: Path) -> AsyncIterator[ApiClient]:
    async with ApiClient(load_kubeconfig(kubeconfig)) as c:
        yield c


async def ready(client: ApiClient, name: str) -> str:
    condition = meta.get_condition(await client.get(NODES, name), "Ready") or {}
    return str(condition.get("status"))


@pytest.mark.parametrize("lister", [True, False], ids=["node-informer", "get"])
async def test_the_kubelet_reports_ready_again_after_the_node_was_marked_unknown(
    client: ApiClient, lister: bool
) -> None:
    """With the kubelet's informer of its own Node (as `kubelet.server` runs it), and with a
    GET per check (before that informer synced)."""
    name = f"status-{uuid.uuid4().hex[:8]}"
    settings = dataclasses.replace(
        config.parse_args(["--node-name", name]), node_status_update_frequency=PERIOD
    )
    own = Informer(client, NODES, field_selector=f"metadata.name={name}", name=f"node@{name}")
    agent = node.NodeAgent(settings, client, FakeRuntime(), own if lister else None)
    await agent.register(10250)
    if lister:
        own.start()
        assert await own.wait_synced(10)
    loop = asyncio.create_task(agent.run())
    try:
        assert await ready(client, name) == "True"
        # the node lifecycle controller's write when a node's heartbeats are late
        current = await client.get(NODES, name)
        conditions = nodelifecycle_plan.silent_conditions(current, times.utc_now())
        assert conditions is not None
        await client.update_status(
            NODES, {**current, "status": {**current["status"], "conditions": conditions}}
        )

        async def ready_again() -> bool:
            return await ready(client, name) == "True"

        # a few periods (one check finds it, one write): not node_status_report_frequency
        await async_wait_for(ready_again, f"node {name} Ready=True again", 20 * PERIOD, 0.05)
        condition = meta.get_condition(await client.get(NODES, name), "Ready") or {}
        assert condition.get("reason") == "KubeletReady"
        if lister:  # the check read the informer's Node, not a GET
            assert own.store.get_by_key(name) is not None
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
        await own.stop()
        try:
            await client.delete(NODES, name)
        except errors.NotFound:
            pass
