"""API Priority and Fairness against a real apiserver: a flood at one priority level gets 429
TooManyRequests with Retry-After, while a leader-election Lease update (its own level) and
system:masters (exempt) are still served."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from minik8s.api.times import now_micro
from tests.support.processes import Apiserver, Etcd

ADMIN, ALICE, CM = (secrets.token_hex(8) for _ in range(3))
EXECUTING = "apiserver_flowcontrol_current_executing_requests"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"


@pytest.fixture()
def limited(etcd_server: Etcd, tmp_path: Path) -> Iterator[Apiserver]:
    """One seat per priority level, and a request waits at most 0.5 s (2 s / 4) for one."""
    server = Apiserver(
        etcd_server.url, tmp_path / "apiserver", token=ADMIN,
        extra_tokens={ALICE: "alice", CM: "system:kube-controller-manager"},
        extra_args=["--max-requests-inflight=1", "--max-mutating-requests-inflight=1",
                    "--request-timeout=2s"],
    )  # fmt: skip
    server.start()
    yield server
    server.stop()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_flood_gets_429s_while_leader_election_is_served(limited: Apiserver) -> None:
    name = f"flood-{uuid.uuid4().hex[:8]}"
    lease: dict[str, Any] = {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": name},
        "spec": {"holderIdentity": "cm-1", "leaseDurationSeconds": 15,
                 "renewTime": now_micro()},
    }  # fmt: skip
    async with httpx.AsyncClient(
        base_url=limited.url, verify=limited.verify, timeout=30,
        limits=httpx.Limits(max_connections=100),
    ) as http:  # fmt: skip
        r = await http.post(LEASES, json=lease, headers=auth(CM))
        assert r.status_code == 201, r.text
        lease = r.json()
        rv = int(lease["metadata"]["resourceVersion"])
        # holds alice's level's only seat while it waits for a revision that is not there yet
        blocker = asyncio.ensure_future(
            http.get(
                "/api/v1/namespaces/default/configmaps",
                params={"resourceVersion": str(rv + 10**6), "resourceVersionMatch": "NotOlderThan"},
                headers=auth(ALICE),
            )
        )

        async def seat_taken() -> bool:
            text = (await http.get("/metrics", headers=auth(ADMIN))).text
            return f'{EXECUTING}{{priority_level="global-default"}} 1.0' in text

        deadline = asyncio.get_running_loop().time() + 10
        while not await seat_taken():
            assert asyncio.get_running_loop().time() < deadline, "the blocking list never ran"
            await asyncio.sleep(0.05)

        flood = [
            asyncio.ensure_future(http.get("/api/v1/namespaces/default/pods", headers=auth(ALICE)))
            for _ in range(20)
        ]
        lease["spec"]["renewTime"] = now_micro()
        renewed = await http.put(f"{LEASES}/{name}", json=lease, headers=auth(CM))
        admin = await http.get("/api/v1/namespaces/default/pods", headers=auth(ADMIN))
        answers = await asyncio.gather(*flood)
        await blocker

        assert renewed.status_code == 200, renewed.text  # leader-election: a level of its own
        assert admin.status_code == 200  # system:masters is exempt
        refused = [a for a in answers if a.status_code == 429]
        assert refused, [a.status_code for a in answers]
        status = refused[0].json()
        assert status["reason"] == "TooManyRequests" and status["code"] == 429
        assert status["details"]["retryAfterSeconds"] == 1
        assert refused[0].headers["Retry-After"] == "1"
        metrics = (await http.get("/metrics", headers=auth(ADMIN))).text
        assert (
            'apiserver_flowcontrol_rejected_requests_total{flow_schema="global-default",'
            'priority_level="global-default",reason="time-out"}'
        ) in metrics
        await http.delete(f"{LEASES}/{name}", headers=auth(ADMIN))
