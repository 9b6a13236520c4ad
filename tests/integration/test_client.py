"""ApiClient against a real apiserver and etcd: CRUD, subresources, errors, watch streams."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from minik8s.api import errors
from minik8s.api.resources import CONFIGMAPS, NAMESPACES, NODES, PODS, ResourceType
from minik8s.client import exceptions, retries
from minik8s.client.api import ApiClient, ClientSettings
from minik8s.client.kubeconfig import ClientConfig, load_kubeconfig
from minik8s.client.watch import WatchEvent, WatchStream
from tests.support.api import pod_manifest
from tests.support.processes import Apiserver, Etcd, free_port


@pytest.fixture()
async def client(kubeconfig: Path) -> AsyncIterator[ApiClient]:
    async with ApiClient(load_kubeconfig(kubeconfig)) as c:
        yield c


@pytest.fixture()
async def namespace(client: ApiClient) -> str:
    name = f"c-{uuid.uuid4().hex[:10]}"
    await client.create(NAMESPACES, {"metadata": {"name": name}})
    return name


def configmap(name: str, **data: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


async def test_create_get_list_update_patch_delete(client: ApiClient, namespace: str) -> None:
    created = await client.create(PODS, pod_manifest("web", app="web"), namespace)
    meta = created["metadata"]
    assert meta["namespace"] == namespace and meta["uid"] and meta["resourceVersion"]

    got = await client.get(PODS, "web", namespace)
    assert got["metadata"]["uid"] == meta["uid"]

    listed = await client.list(PODS, namespace, label_selector="app=web")
    assert [p["metadata"]["name"] for p in listed["items"]] == ["web"]
    assert listed["metadata"]["resourceVersion"]
    assert (await client.list(PODS, namespace, label_selector="app=other"))["items"] == []

    got["metadata"]["labels"]["tier"] = "front"
    updated = await client.update(PODS, got)
    assert updated["metadata"]["labels"]["tier"] == "front"
    assert updated["metadata"]["resourceVersion"] != meta["resourceVersion"]

    with pytest.raises(errors.Conflict):
        await client.update(PODS, got)  # got carries the old resourceVersion

    merged = await client.patch(PODS, "web", {"metadata": {"labels": {"v": "2"}}},
                                namespace=namespace)  # fmt: skip
    assert merged["metadata"]["labels"] == {"app": "web", "tier": "front", "v": "2"}
    json_patched = await client.patch(
        PODS, "web", [{"op": "remove", "path": "/metadata/labels/v"}],
        namespace=namespace, patch_type="json",
    )  # fmt: skip
    assert "v" not in json_patched["metadata"]["labels"]
    strategic = await client.patch(
        PODS, "web", {"metadata": {"annotations": {"a": "b"}}},
        namespace=namespace, patch_type="strategic",
    )  # fmt: skip
    assert strategic["metadata"]["annotations"] == {"a": "b"}

    await client.delete(PODS, "web", namespace)
    with pytest.raises(errors.NotFound):
        await client.get(PODS, "web", namespace)


async def test_status_subresource_and_binding(client: ApiClient, namespace: str) -> None:
    await client.create(PODS, pod_manifest("bound"), namespace)
    await client.bind(namespace, "bound", "node-a")
    pod = await client.get(PODS, "bound", namespace)
    assert pod["spec"]["nodeName"] == "node-a"

    pod["status"] = {**pod.get("status", {}), "phase": "Running", "podIP": "10.244.0.9"}
    after = await client.update_status(PODS, pod)
    assert after["status"]["phase"] == "Running"
    assert (await client.get(PODS, "bound", namespace))["status"]["podIP"] == "10.244.0.9"

    patched = await client.patch(
        PODS, "bound", {"status": {"message": "hi"}}, namespace=namespace, subresource="status"
    )
    assert patched["status"]["message"] == "hi"

    with pytest.raises(errors.Conflict):
        await client.bind(namespace, "bound", "node-b")  # already bound


async def test_errors_are_mapped_to_their_classes(client: ApiClient, namespace: str) -> None:
    await client.create(CONFIGMAPS, configmap("dup"), namespace)
    with pytest.raises(errors.AlreadyExists) as exists:
        await client.create(CONFIGMAPS, configmap("dup"), namespace)
    assert exists.value.name == "dup"

    with pytest.raises(errors.NotFound):
        await client.get(NODES, f"no-such-node-{uuid.uuid4().hex[:6]}")

    bad = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bad"}, "spec": {}}
    with pytest.raises(errors.Invalid) as invalid:
        await client.create(PODS, bad, namespace)
    assert any("containers" in c.field for c in invalid.value.causes)

    with pytest.raises(errors.NotFound):
        await client.delete(CONFIGMAPS, "never-was", namespace)
    with pytest.raises(errors.Conflict):
        await client.delete(CONFIGMAPS, "dup", namespace, preconditions={"uid": "wrong-uid"})
    await client.delete(CONFIGMAPS, "dup", namespace)


async def test_a_wrong_token_is_unauthorized(kubeconfig: Path) -> None:
    config = dataclasses.replace(load_kubeconfig(kubeconfig), token="wrong")
    async with ApiClient(config) as client:
        with pytest.raises(errors.Unauthorized):
            await client.list(NAMESPACES)


async def test_an_unreachable_server_fails_fast_with_its_address() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    policy = retries.RetryPolicy(max_attempts=2, backoff_base=0.01)
    async with ApiClient(ClientConfig.from_url(url), ClientSettings(retry=policy)) as client:
        with pytest.raises(exceptions.ServerUnreachable, match=f"at {url}"):
            await client.list(PODS)


async def test_generic_request_reaches_discovery(client: ApiClient) -> None:
    versions = await client.request("GET", "/api")
    assert versions["kind"] == "APIVersions" and "v1" in versions["versions"]


async def test_watch_streams_changes_from_a_resource_version(
    client: ApiClient, namespace: str
) -> None:
    start = (await client.list(CONFIGMAPS, namespace))["metadata"]["resourceVersion"]
    await client.create(CONFIGMAPS, configmap("w", k="1"), namespace)
    await client.patch(CONFIGMAPS, "w", {"data": {"k": "2"}}, namespace=namespace)
    await client.delete(CONFIGMAPS, "w", namespace)
    events = await first_events(
        client.watch(CONFIGMAPS, namespace, resource_version=start, timeout_seconds=10), 3
    )
    assert [e.type for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert [e.object["data"]["k"] for e in events[:2]] == ["1", "2"]
    rvs = [int(e.resource_version or 0) for e in events]
    assert rvs == sorted(rvs) and len(set(rvs)) == 3 and rvs[0] > int(start)


async def test_watch_sees_live_events_filtered_by_label(client: ApiClient, namespace: str) -> None:
    stream = client.watch(CONFIGMAPS, namespace, resource_version="0", label_selector="keep=yes",
                          timeout_seconds=10)  # fmt: skip
    async with stream:
        reader = asyncio.create_task(first_events(stream, 1), name="watch reader")
        await asyncio.sleep(0)
        drop = configmap("drop")
        keep = {**configmap("keep"), "metadata": {"name": "keep", "labels": {"keep": "yes"}}}
        await client.create(CONFIGMAPS, drop, namespace)
        await client.create(CONFIGMAPS, keep, namespace)
        events = await asyncio.wait_for(reader, 10)
    assert [(e.type, e.object["metadata"]["name"]) for e in events] == [("ADDED", "keep")]


@pytest.fixture()
def small_cache_apiserver(fresh_etcd: Etcd, tmp_path: Path) -> Iterator[Apiserver]:
    server = Apiserver(
        fresh_etcd.url, tmp_path / "apiserver", extra_args=["--watch-cache-size", "3"]
    )
    server.start()
    yield server
    server.stop()


async def test_watch_from_a_compacted_version_raises_expired(
    small_cache_apiserver: Apiserver,
) -> None:
    async with ApiClient(ClientConfig.from_url(small_cache_apiserver.url)) as client:
        start = (await client.list(CONFIGMAPS, "default"))["metadata"]["resourceVersion"]
        for i in range(6):
            await client.create(CONFIGMAPS, configmap(f"old-{i}"), "default")
        with pytest.raises(errors.Expired):
            await first_events(client.watch(CONFIGMAPS, "default", resource_version=start), 1)


async def first_events(stream: WatchStream, count: int) -> list[WatchEvent]:
    """The first `count` non-bookmark events of `stream` (closing it)."""
    events: list[WatchEvent] = []
    async with stream:
        async for event in stream:
            if event.type != "BOOKMARK":
                events.append(event)
            if len(events) >= count:
                break
    return events


async def test_a_server_certificate_without_its_ca_is_refused(apiserver: Apiserver) -> None:
    if not apiserver.url.startswith("https://"):
        pytest.skip("the session apiserver serves plain HTTP")
    async with ApiClient(ClientConfig.from_url(apiserver.url, token=apiserver.token)) as client:
        with pytest.raises(exceptions.TLSFailure, match="certificate"):
            await client.list(NAMESPACES)


def open_sockets_to(port: int) -> int:
    """TCP sockets this process holds open to 127.0.0.1:`port` (from /proc, not the GC)."""
    inodes = set()
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[9] in inodes and int(fields[2].split(":")[1], 16) == port:
            count += 1
    return count


@pytest.mark.parametrize("give_up_after", [0.0, 0.001, 0.002, 0.05])
def test_watches_given_up_at_any_moment_leave_no_socket_open(
    apiserver: Apiserver, kubeconfig: Path, give_up_after: float
) -> None:
    """Each run is a whole program (like minikctl): watches cancelled while connecting or
    streaming over TLS, client closed, loop closed; no socket to the apiserver may stay open
    (a TLS close waiting for the server's close_notify did, until the loop was gone)."""

    async def program() -> None:
        async with ApiClient(load_kubeconfig(kubeconfig)) as client:

            async def follow(rt: ResourceType) -> None:
                async with client.watch(rt, "default", timeout_seconds=30) as stream:
                    async for _ in stream:
                        pass

            tasks = [asyncio.create_task(follow(rt)) for rt in (PODS, CONFIGMAPS)]
            await asyncio.sleep(give_up_after)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    for _ in range(8):
        asyncio.run(program())
        assert open_sockets_to(apiserver.port) == 0


async def test_client_metrics_count_requests_and_new_connections(kubeconfig: Path) -> None:
    """`rest_client_request_duration_seconds` per attempt of an ordinary request; a request
    that finds every connection of a one-connection pool busy waits (stage=pool)."""

    def count(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    config = load_kubeconfig(kubeconfig)
    host = config.server.split("://", 1)[1]
    before = (
        count("rest_client_request_duration_seconds_count", verb="GET", host=host),
        count("rest_client_connection_wait_seconds_count", stage="connect"),
        count("rest_client_connection_wait_seconds_count", stage="pool"),
    )
    async with ApiClient(config, ClientSettings(max_connections=1)) as one:
        await asyncio.gather(*(one.get(NAMESPACES, "default") for _ in range(3)))
    after = (
        count("rest_client_request_duration_seconds_count", verb="GET", host=host),
        count("rest_client_connection_wait_seconds_count", stage="connect"),
        count("rest_client_connection_wait_seconds_count", stage="pool"),
    )
    assert after[0] - before[0] == 3
    assert after[1] - before[1] == 1  # one connection, reused
    assert after[2] - before[2] == 2  # the other two waited for it
