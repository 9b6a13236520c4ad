"""The metrics server's APIService registration retries a read-modify-write that lost a race
(the aggregator writes the APIService's status meanwhile)."""

import asyncio
from typing import Any

import pytest

from minik8s.api import errors, resources
from minik8s.metricsserver import registration


class RacingClient:
    """Stores one object; its first `conflicts` updates fail as if another writer came first."""

    def __init__(self, stored: dict[str, Any], conflicts: int) -> None:
        self.stored, self.conflicts, self.updates = stored, conflicts, 0

    async def create(self, rt: Any, obj: Any, namespace: Any = None) -> Any:
        raise errors.AlreadyExists("exists")

    async def get(self, rt: Any, name: str, namespace: Any = None) -> Any:
        return {**self.stored, "spec": dict(self.stored["spec"])}

    async def update(self, rt: Any, obj: Any) -> Any:
        self.updates += 1
        if self.conflicts:
            self.conflicts -= 1
            raise errors.Conflict("the object has been modified")
        self.stored = obj
        return obj


def desired() -> dict[str, Any]:
    return registration.apiservice("kube-system", "metrics-server", b"CA")


def test_a_lost_race_is_read_again_and_written() -> None:
    client = RacingClient({"metadata": {"name": "v1beta1.metrics.k8s.io"}, "spec": {}}, 2)
    asyncio.run(registration.ensure(client, desired(), resources.APISERVICES))  # type: ignore[arg-type]
    assert client.updates == 3 and client.stored["spec"] == desired()["spec"]


def test_endless_conflicts_end_with_the_error() -> None:
    client = RacingClient({"metadata": {"name": "v1beta1.metrics.k8s.io"}, "spec": {}}, 99)
    with pytest.raises(errors.Conflict):
        asyncio.run(registration.ensure(client, desired(), resources.APISERVICES))  # type: ignore[arg-type]
    assert client.updates == registration.CONFLICT_RETRIES
