"""Watch semantics: order, resume, expiry, selectors, bookmarks — over a real etcd."""

from __future__ import annotations

import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.api import Api, pod_manifest
from tests.support.processes import Apiserver, Etcd

MERGE = "application/merge-patch+json"


def collect(api: Api, path: str, count: int, **params: Any) -> list[dict[str, Any]]:
    """The first `count` events of a watch (bounded by the server-side timeout)."""
    params.setdefault("timeoutSeconds", "10")
    events: list[dict[str, Any]] = []
    with api.watch(path, **params) as stream:
        for event in stream:
            events.append(event)
            if len(events) >= count:
                break
    assert len(events) == count, f"wanted {count} events, the watch ended after {events}"
    return events


def test_added_modified_deleted_in_order(api: Api, ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/pods"
    rv = api.get(path).json()["metadata"]["resourceVersion"]
    api.post(path, pod_manifest("w1"))
    api.patch(f"{path}/w1", {"metadata": {"labels": {"v": "2"}}}, MERGE)
    api.delete(f"{path}/w1")
    events = collect(api, path, 3, resourceVersion=rv)
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert all(e["object"]["metadata"]["name"] == "w1" for e in events)
    revisions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert revisions == sorted(revisions) and len(set(revisions)) == 3


def test_watch_without_version_starts_with_current_objects(api: Api, ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/pods"
    api.post(path, pod_manifest("a"))
    api.post(path, pod_manifest("b"))
    events = collect(api, path, 2)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "a"),
        ("ADDED", "b"),
    ]


def test_resume_from_a_version_loses_nothing(api: Api, ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/configmaps"
    start = api.get(path).json()["metadata"]["resourceVersion"]
    for i in range(10):
        api.post(path, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{i}"}})
    first = collect(api, path, 4, resourceVersion=start)
    resume_from = first[-1]["object"]["metadata"]["resourceVersion"]
    rest = collect(api, path, 6, resourceVersion=resume_from)
    names = [e["object"]["metadata"]["name"] for e in first + rest]
    assert names == [f"c{i}" for i in range(10)]


def test_selectors_filter_watches(api: Api, ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/pods"
    rv = api.get(path).json()["metadata"]["resourceVersion"]
    api.post(path, pod_manifest("other", app="db"))
    api.post(path, pod_manifest("mine", app="web"))
    api.patch(f"{path}/other", {"metadata": {"labels": {"app": "web"}}}, MERGE)  # enters
    api.patch(f"{path}/mine", {"metadata": {"labels": {"app": "db"}}}, MERGE)  # leaves
    events = collect(api, path, 3, resourceVersion=rv, labelSelector="app=web")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "mine"),
        ("ADDED", "other"),
        ("DELETED", "mine"),
    ]
    field = collect(api, path, 1, resourceVersion=rv, fieldSelector="metadata.name=mine")
    assert field[0]["object"]["metadata"]["name"] == "mine"


def test_watch_of_a_single_object(api: Api, ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/pods"
    api.post(path, pod_manifest("one"))
    api.post(path, pod_manifest("two"))
    events = collect(api, f"{path}/one", 1)
    assert events[0]["object"]["metadata"]["name"] == "one"


def test_timeout_seconds_ends_the_stream(api: Api, ns: str) -> None:
    with api.watch(f"/api/v1/namespaces/{ns}/pods", timeoutSeconds="1") as stream:
        assert list(stream) == []


@pytest.fixture()
def own_apiserver(fresh_etcd: Etcd, tmp_path: Path) -> Iterator[Apiserver]:
    server = Apiserver(
        fresh_etcd.url,
        tmp_path / "apiserver",
        token="t0ken",
        extra_args=["--watch-cache-size", "5", "--watch-bookmark-interval", "1"],
    )
    server.start()
    yield server
    server.stop()
    shutil.rmtree(tmp_path / "apiserver", ignore_errors=True)


def test_too_old_version_gives_an_in_stream_410(own_apiserver: Apiserver) -> None:
    api = Api(own_apiserver)
    try:
        path = "/api/v1/namespaces/default/configmaps"
        start = api.get(path).json()["metadata"]["resourceVersion"]
        for i in range(12):  # more than the 5 events the cache keeps
            api.post(path, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{i}"}})
        with api.watch(path, resourceVersion=start) as stream:
            events = list(stream)
        assert len(events) == 1 and events[0]["type"] == "ERROR"
        status = events[0]["object"]
        assert (
            status["kind"] == "Status" and status["code"] == 410 and status["reason"] == "Expired"
        )
    finally:
        api.close()


def test_bookmarks_arrive(own_apiserver: Apiserver) -> None:
    api = Api(own_apiserver)
    try:
        path = "/api/v1/namespaces/default/pods"
        rv = api.get(path).json()["metadata"]["resourceVersion"]
        events = collect(
            api, path, 1, resourceVersion=rv, allowWatchBookmarks="true", timeoutSeconds="5"
        )
        assert events[0]["type"] == "BOOKMARK"
        assert events[0]["object"]["kind"] == "Pod"
        assert int(events[0]["object"]["metadata"]["resourceVersion"]) >= int(rv)
    finally:
        api.close()


def test_many_watchers_all_see_a_change(api: Api, ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/configmaps"
    rv = api.get(path).json()["metadata"]["resourceVersion"]
    seen: list[str] = []
    lock = threading.Lock()

    def watch_one() -> None:
        for event in collect(api, path, 1, resourceVersion=rv):
            with lock:
                seen.append(event["object"]["metadata"]["name"])

    threads = [threading.Thread(target=watch_one) for _ in range(10)]
    for t in threads:
        t.start()
    api.post(path, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fanout"}})
    for t in threads:
        t.join(15)
    assert seen == ["fanout"] * 10


def test_apiserver_stops_promptly_on_sigterm_with_open_watches(own_apiserver: Apiserver) -> None:
    api = Api(own_apiserver)
    assert own_apiserver.process is not None and own_apiserver.process.popen is not None
    popen = own_apiserver.process.popen
    try:
        with api.watch("/api/v1/namespaces/default/pods", timeoutSeconds="60") as stream:
            started = time.monotonic()
            popen.send_signal(signal.SIGTERM)
            assert list(stream) == []  # the stream ends cleanly when the server goes
    finally:
        api.close()
    code = popen.wait(15)
    assert code == 0, own_apiserver.process.log_tail()
    assert time.monotonic() - started < 4, "the apiserver waited for its graceful timeout"


def test_name_selected_watches_see_only_their_object(api: Api, ns: str) -> None:
    """`fieldSelector=metadata.name=` and single-object watches, live and replayed (the cache
    indexes them by name): each gets its object's events, a `!=` watch the others'."""
    path = f"/api/v1/namespaces/{ns}/configmaps"
    rv = api.get(path).json()["metadata"]["resourceVersion"]
    live: dict[str, list[tuple[str, str]]] = {}

    def watch(key: str, watch_path: str, count: int, **params: Any) -> threading.Thread:
        def run() -> None:
            events = collect(api, watch_path, count, resourceVersion=rv, **params)
            live[key] = [(e["type"], e["object"]["metadata"]["name"]) for e in events]

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    threads = [
        watch("a", path, 2, fieldSelector="metadata.name=a"),
        watch("b", f"{path}/b", 1),
        watch("not-a", path, 2, fieldSelector="metadata.name!=a"),
    ]
    for name in ("a", "b", "c"):
        api.post(path, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}})
    api.delete(f"{path}/a")
    for thread in threads:
        thread.join(15)
    assert live == {
        "a": [("ADDED", "a"), ("DELETED", "a")],
        "b": [("ADDED", "b")],
        "not-a": [("ADDED", "b"), ("ADDED", "c")],
    }
    replayed = collect(api, path, 2, resourceVersion=rv, fieldSelector="metadata.name==a")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in replayed] == live["a"]
