"""The watch cache hands a pod event only to the watchers of its node (and to those without
a node filter), as Kubernetes' watch cache does with its nodeName index."""

from minik8s.api.resources import PODS
from minik8s.apiserver.watchcache import ResourceCache, Watcher
from minik8s.store.etcd import StoreEvent


def pod(node: str | None, namespace: str = "default") -> dict:
    spec = {"nodeName": node} if node else {}
    return {"metadata": {"name": "p", "namespace": namespace}, "spec": spec}


def received(watcher: Watcher) -> list[str]:
    types = []
    while not watcher.queue.empty():
        event = watcher.queue.get_nowait()
        types.append(event.type if event is not None else "CLOSED")
    return types


def test_pod_events_reach_only_their_nodes_watchers() -> None:
    cache = ResourceCache(PODS, capacity=100)
    node_a, node_b = Watcher(None, "a", 100), Watcher(None, "b", 100)
    everyone, other_ns = Watcher(None, None, 100), Watcher("other", None, 100)
    a_in_other_ns = Watcher("other", "a", 100)
    for w in (node_a, node_b, everyone, other_ns, a_in_other_ns):
        cache.add_watcher(w)
    key = "/registry/pods/default/p"

    cache.apply(StoreEvent("PUT", key, pod(None), 2))  # created, not yet bound
    cache.apply(StoreEvent("PUT", key, pod("a"), 3))  # bound to a
    cache.apply(StoreEvent("DELETE", key, None, 4))
    assert received(everyone) == ["ADDED", "MODIFIED", "DELETED"]
    assert received(node_a) == ["MODIFIED", "DELETED"]
    assert received(node_b) == received(other_ns) == received(a_in_other_ns) == []

    node_a.close()
    received(node_a)
    cache.apply(StoreEvent("PUT", key, pod("a"), 5))  # a closed watcher is dropped
    assert received(node_a) == [] and node_a not in cache.watchers
    cache.discard_watcher(node_b)
    cache.clear_watchers()
    assert cache.watchers == set() and received(everyone) == ["ADDED", "CLOSED"]
