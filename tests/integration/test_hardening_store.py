"""Pagination, watch caps, compaction, a corrupt value, etcd down and an etcd restore, against
an etcd and apiserver of this module's own (it compacts every second and is restarted)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.api import Api, pod_manifest
from tests.support.processes import Apiserver, Etcd, temp_dir
from tests.support.waiting import wait_for


class Cluster:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.etcd = Etcd(work / "etcd")
        self.apiserver: Apiserver | None = None

    def start(self) -> None:
        self.etcd.start()
        self.apiserver = Apiserver(
            self.etcd.url,
            self.work / "apiserver",
            extra_args=[
                "--etcd-compaction-interval=1s",
                "--max-watches-per-client=2",
                "--min-request-timeout=1",
            ],
        )
        self.apiserver.start()

    def log(self) -> str:
        assert self.apiserver is not None and self.apiserver.process is not None
        return self.apiserver.process.log_path.read_text(errors="replace")

    def etcdctl(self, *args: str) -> str:
        result = subprocess.run(
            ["etcdctl", f"--endpoints={self.etcd.url}", *args],
            capture_output=True, text=True, timeout=30, env={"ETCDCTL_API": "3"}, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout

    def stop(self) -> None:
        if self.apiserver is not None:
            self.apiserver.stop()
        self.etcd.stop()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    work = temp_dir("minik8s-hardening-")
    cluster = Cluster(work)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture()
def api(cluster: Cluster) -> Iterator[Api]:
    assert cluster.apiserver is not None
    client = Api(cluster.apiserver)
    yield client
    client.close()


def create_pods(api: Api, ns: str, count: int) -> None:
    for i in range(count):
        manifest = pod_manifest(f"p{i:02d}", app="even" if i % 2 == 0 else "odd")
        assert api.post(f"/api/v1/namespaces/{ns}/pods", manifest).status_code == 201


def test_pagination_reads_one_snapshot(api: Api) -> None:
    ns = api.namespace()
    create_pods(api, ns, 7)
    path = f"/api/v1/namespaces/{ns}/pods"
    first = api.get(path, params={"limit": 3}).json()
    assert [p["metadata"]["name"] for p in first["items"]] == ["p00", "p01", "p02"]
    assert first["metadata"]["remainingItemCount"] == 4
    token, rv = first["metadata"]["continue"], first["metadata"]["resourceVersion"]
    create_pods_after = pod_manifest("p03a")  # sorts inside the next page
    assert api.post(path, create_pods_after).status_code == 201
    second = api.get(path, params={"limit": 3, "continue": token}).json()
    assert [p["metadata"]["name"] for p in second["items"]] == ["p03", "p04", "p05"]
    assert second["metadata"]["resourceVersion"] == rv  # the first page's snapshot
    last = api.get(path, params={"limit": 3, "continue": second["metadata"]["continue"]}).json()
    assert [p["metadata"]["name"] for p in last["items"]] == ["p06"]
    assert "continue" not in last["metadata"] and "remainingItemCount" not in last["metadata"]
    # A selector fills pages from further reads, with no remainingItemCount.
    even = api.get(path, params={"limit": 2, "labelSelector": "app=even"}).json()
    assert [p["metadata"]["name"] for p in even["items"]] == ["p00", "p02"]
    assert even["metadata"]["continue"] and "remainingItemCount" not in even["metadata"]
    # kubectl get: a Table with limit=500 carries the list metadata too.
    as_table = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}
    table = api.get(path, params={"limit": 2}, headers=as_table).json()
    assert table["kind"] == "Table" and len(table["rows"]) == 2
    assert table["metadata"]["continue"]
    # A continue token is bound to its snapshot: another resourceVersion with it is a 400.
    r = api.get(path, params={"continue": token, "resourceVersion": rv})
    assert r.status_code == 400, r.text


def test_continue_token_expires_with_compaction(api: Api) -> None:
    ns = api.namespace()
    create_pods(api, ns, 3)
    path = f"/api/v1/namespaces/{ns}/pods"
    token = api.get(path, params={"limit": 1}).json()["metadata"]["continue"]

    def expired() -> httpx.Response | None:
        assert api.post(path, pod_manifest(f"churn-{time.monotonic_ns()}")).status_code == 201
        r = api.get(path, params={"limit": 1, "continue": token})
        return r if r.status_code != 200 else None

    r = wait_for(expired, "the apiserver's 1s compaction to expire the continue token", 15)
    assert r.status_code == 410, r.text
    status = r.json()
    assert (
        status["reason"] == "Expired"
        and "too old to display a consistent list" in (status["message"])
    )
    again = api.get(path, params={"limit": 1, "continue": status["metadata"]["continue"]})
    assert again.status_code == 200 and again.json()["items"][0]["metadata"]["name"] == "p01"


def test_watches_are_capped_per_client_and_in_time(api: Api, cluster: Cluster) -> None:
    assert cluster.apiserver is not None
    path = "/api/v1/configmaps"
    started = time.monotonic()
    with api.watch(path, timeoutSeconds=100_000), api.watch(path) as second:
        r = api.get(path, params={"watch": "true"})
        assert r.status_code == 429, r.text
        assert r.headers["Retry-After"] == "1" and r.json()["reason"] == "TooManyRequests"
        # timeoutSeconds is honoured up to 2 x --min-request-timeout (1 s here): it ends.
        for _ in second:
            pass
    assert time.monotonic() - started < 10
    with api.watch(path, timeoutSeconds=1) as events:  # a slot is free again
        for _ in events:
            pass


def test_a_value_that_is_not_json_is_skipped(api: Api, cluster: Cluster) -> None:
    ns = api.namespace()
    cluster.etcdctl("put", f"/registry/configmaps/{ns}/corrupt", "not json {")
    configmap = {"metadata": {"name": "after"}, "data": {"a": "b"}}
    assert api.post(f"/api/v1/namespaces/{ns}/configmaps", configmap).status_code == 201
    listed = api.get(f"/api/v1/namespaces/{ns}/configmaps").json()["items"]
    assert [c["metadata"]["name"] for c in listed] == ["after"]  # the cache kept going
    r = api.get(f"/api/v1/namespaces/{ns}/configmaps/corrupt")
    assert r.status_code == 500 and r.json()["kind"] == "Status" and "Traceback" not in r.text
    assert api.get("/readyz").status_code == 200
    assert "watch cache loop failed" not in cluster.log()
    cluster.etcdctl("del", f"/registry/configmaps/{ns}/corrupt")


def test_etcd_down_is_503_then_an_etcd_restore_is_detected(
    api: Api, cluster: Cluster, tmp_path: Path
) -> None:
    ns = api.namespace()
    create_pods(api, ns, 2)
    snapshot = tmp_path / "snapshot.db"
    cluster.etcdctl("snapshot", "save", str(snapshot))
    path = f"/api/v1/namespaces/{ns}/pods"
    assert api.post(path, pod_manifest("after-snapshot")).status_code == 201

    cluster.etcd.stop()
    responses = [api.get(f"{path}/p00"), api.post(path, pod_manifest("while-down"))]
    responses.append(api.get(path))
    for r in responses:
        assert r.status_code in (503, 504), r.text
        assert r.headers["Retry-After"] == "1" and "Traceback" not in r.text
        assert r.json()["reason"] in ("ServiceUnavailable", "Timeout")
    wait_for(lambda: api.get("/readyz").status_code == 503, "/readyz to say etcd is down")
    assert cluster.log().count("etcd is unavailable") == 1  # logged once, no traceback
    assert "Traceback" not in cluster.log()

    # Restore the snapshot into a new data directory, on the same ports.
    peer = f"http://127.0.0.1:{cluster.etcd.peer_port}"
    restored = tmp_path / "restored"
    subprocess.run(
        ["etcdctl", "snapshot", "restore", str(snapshot), f"--data-dir={restored / 'data'}",
         "--name=minik8s-test", f"--initial-cluster=minik8s-test={peer}",
         f"--initial-advertise-peer-urls={peer}", "--initial-cluster-token=restored"],
        check=True, capture_output=True, env={"ETCDCTL_API": "3"}, timeout=30,
    )  # fmt: skip
    cluster.etcd = Etcd(restored, cluster.etcd.client_port, cluster.etcd.peer_port)
    cluster.etcd.start()

    def names() -> list[str] | None:
        r = api.get(path)
        return [p["metadata"]["name"] for p in r.json()["items"]] if r.status_code == 200 else None

    assert wait_for(names, "lists to be served again after the restore", 20) == ["p00", "p01"]
    assert "relisting" in cluster.log()
    with api.watch(path) as events:  # watches work on the restored history
        assert api.post(path, pod_manifest("after-restore")).status_code == 201
        seen = [e["object"]["metadata"]["name"] for e, _ in zip(events, range(3), strict=False)]
    assert seen == ["p00", "p01", "after-restore"]


def test_event_loop_lag_is_measured(cluster: Cluster) -> None:
    assert cluster.apiserver is not None
    metrics = httpx.get(f"{cluster.apiserver.url}/metrics", timeout=10).text
    assert "minik8s_event_loop_blocked_seconds_bucket" in metrics
