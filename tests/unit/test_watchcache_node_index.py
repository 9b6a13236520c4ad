"""The watch cache hands a pod event only to the watchers of its node (and to those without
a node filter), as Kubernetes' watch cache does with its nodeName index."""

from minik8s.api.resources import NODES, PODS
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


def node(name: str, ready: str = "True") -> dict:
    return {
        "metadata": {"name": name},
        "status": {"conditions": [{"type": "Ready", "status": ready}]},
    }


def test_named_watchers_see_only_their_objects_events() -> None:
    """A `metadata.name=` watcher (every kubelet's own-Node watch) is indexed by the name: a
    Node's update visits its own watcher, never the other nodes' (1 000 kubelets would
    otherwise each be handed and filter every node's heartbeat)."""
    cache = ResourceCache(NODES, capacity=100)
    own_a, own_b, everyone = (
        Watcher(None, None, 100, "a"),
        Watcher(None, None, 100, "b"),
        Watcher(None, None, 100),
    )
    for w in (own_a, own_b, everyone):
        cache.add_watcher(w)
    cache.apply(StoreEvent("PUT", "/registry/nodes/a", node("a"), 2))
    cache.apply(StoreEvent("PUT", "/registry/nodes/a", node("a", "False"), 3))
    cache.apply(StoreEvent("PUT", "/registry/nodes/c", node("c"), 4))
    cache.apply(StoreEvent("DELETE", "/registry/nodes/a", None, 5))
    assert received(own_a) == ["ADDED", "MODIFIED", "DELETED"]
    assert received(own_b) == []
    assert received(everyone) == ["ADDED", "MODIFIED", "ADDED", "DELETED"]
    assert own_b.wants(cache.events[0]) is False and own_a.wants(cache.events[0]) is True

    cache.discard_watcher(own_a)
    assert cache.watchers == {own_b, everyone}
    own_b.close()
    received(own_b)
    cache.apply(StoreEvent("PUT", "/registry/nodes/b", node("b"), 6))  # closed: dropped
    assert received(own_b) == [] and own_b not in cache.watchers
    cache.clear_watchers()
    assert cache.watchers == set()
