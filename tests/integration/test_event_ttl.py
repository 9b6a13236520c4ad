"""Events expire `--event-ttl` after their last write, through etcd leases, as in Kubernetes."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.api import Api
from tests.support.processes import Apiserver, Etcd
from tests.support.waiting import wait_for

TTL = 2
EVENTS = "/api/v1/namespaces/default/events"


@pytest.fixture()
def short_ttl_api(fresh_etcd: Etcd, tmp_path: Path) -> Iterator[Api]:
    server = Apiserver(
        fresh_etcd.url, tmp_path / "apiserver", token="t0ken", extra_args=["--event-ttl", f"{TTL}s"]
    )
    server.start()
    api = Api(server)
    yield api
    api.close()
    server.stop()
    shutil.rmtree(tmp_path / "apiserver", ignore_errors=True)


def event(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name},
        "involvedObject": {"kind": "Pod", "namespace": "default", "name": "p"},
        "reason": "Tested",
        "message": "an event that expires",
        "type": "Normal",
    }


def test_an_event_is_deleted_after_its_ttl_and_watchers_see_it_go(short_ttl_api: Api) -> None:
    api = short_ttl_api
    start = api.get(EVENTS).json()["metadata"]["resourceVersion"]
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "stays"}}
    assert api.post("/api/v1/namespaces/default/configmaps", config_map).status_code == 201
    created = time.monotonic()
    assert api.post(EVENTS, event("e1")).status_code == 201

    wait_for(
        lambda: api.get(f"{EVENTS}/e1").status_code == 404,
        f"the Event to expire {TTL}s after its write",
        timeout=TTL + 15,
    )
    assert time.monotonic() - created >= TTL - 0.5  # not deleted at once
    with api.watch(EVENTS, resourceVersion=start, timeoutSeconds="1") as stream:
        assert [e["type"] for e in stream] == ["ADDED", "DELETED"]
    assert api.get("/api/v1/namespaces/default/configmaps/stays").status_code == 200


def test_an_update_starts_the_ttl_again(short_ttl_api: Api) -> None:
    api = short_ttl_api
    assert api.post(EVENTS, event("e2")).status_code == 201
    for count in range(2, 2 * (TTL + 1)):  # updates every 0.5 s keep it past its first TTL
        response = api.patch(f"{EVENTS}/e2", {"count": count}, "application/merge-patch+json")
        assert response.status_code == 200, response.text
        written = time.monotonic()
        wait_for(lambda w=written: time.monotonic() - w >= 0.5, "half a second between updates")
    assert api.get(f"{EVENTS}/e2").status_code == 200
    wait_for(
        lambda: api.get(f"{EVENTS}/e2").status_code == 404,
        "the Event to expire after its last update",
        timeout=TTL + 15,
    )
