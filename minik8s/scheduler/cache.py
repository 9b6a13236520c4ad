"""The scheduler's view of the cluster: nodes with the pods assigned to them, including pods
it has *assumed* (decided and bound, or binding, but not yet seen bound by the watch).

Without assumptions, two pods scheduled a few milliseconds apart would both see a node's
room before either binding came back through the watch. An assumed pod counts on its node
at once; the watch confirms it (`add_pod`), a failed binding forgets it (`forget`), and an
assumption the watch never confirms expires `assumed_ttl` seconds after its binding finished.
Pure data, no I/O; the clock is passed in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from minik8s.scheduler.nodeinfo import NodeInfo, PodInfo, node_info

logger = logging.getLogger(__name__)


@dataclass
class PodState:
    pod: PodInfo
    node: str
    assumed: bool
    deadline: float | None = None
    """When an assumed pod whose binding finished expires."""


class SchedulerCache:
    def __init__(self, assumed_ttl: float = 30.0) -> None:
        self.assumed_ttl = assumed_ttl
        self.nodes: dict[str, NodeInfo] = {}
        self._pods: dict[str, PodState] = {}
        self._node_list: list[NodeInfo] | None = None

    # --- nodes ---------------------------------------------------------------------------

    def node_list(self) -> list[NodeInfo]:
        """The existing nodes in a stable order (rebuilt only when nodes come or go)."""
        if self._node_list is None:
            self._node_list = [n for n in self.nodes.values() if n.exists]
        return self._node_list

    def set_node(self, node: dict) -> NodeInfo:
        """Add or update a node from its object."""
        parsed = node_info(node)
        info = self.nodes.get(parsed.name)
        if info is None:
            self.nodes[parsed.name] = info = parsed
            self._node_list = None
        else:
            if not info.exists:
                self._node_list = None
            info.update_from(parsed)
        return info

    def remove_node(self, name: str) -> None:
        info = self.nodes.get(name)
        if info is None:
            return
        self._node_list = None
        if info.pods:
            info.exists = False  # keep its pods accounted until they go
        else:
            del self.nodes[name]

    def _node_for_pod(self, name: str) -> NodeInfo:
        info = self.nodes.get(name)
        if info is None:
            self.nodes[name] = info = NodeInfo(name=name, exists=False)
        return info

    def _detach(self, key: str) -> PodState | None:
        state = self._pods.pop(key, None)
        if state is not None:
            info = self.nodes.get(state.node)
            if info is not None:
                info.remove_pod(key)
                if not info.exists and not info.pods:
                    del self.nodes[state.node]
        return state

    # --- pods ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._pods)

    def is_assumed(self, key: str) -> bool:
        state = self._pods.get(key)
        return state is not None and state.assumed

    def node_of(self, key: str) -> str | None:
        state = self._pods.get(key)
        return state.node if state is not None else None

    def assume(self, pod: PodInfo, node: str) -> None:
        """Count `pod` on `node` before the binding is confirmed."""
        self._detach(pod.key)
        self._node_for_pod(node).add_pod(pod)
        self._pods[pod.key] = PodState(pod, node, assumed=True)

    def finish_binding(self, key: str, now: float) -> None:
        """The binding request returned: start the assumption's expiry clock."""
        state = self._pods.get(key)
        if state is not None and state.assumed:
            state.deadline = now + self.assumed_ttl

    def forget(self, key: str) -> bool:
        """Drop an assumption (its binding failed); a confirmed pod is left alone."""
        state = self._pods.get(key)
        if state is None or not state.assumed:
            return False
        self._detach(key)
        return True

    def set_pod(self, pod: PodInfo) -> None:
        """A pod seen bound to a node (add or update); confirms an assumption. Terminal pods
        no longer use their node's resources and are dropped."""
        if pod.terminal or not pod.node_name:
            self.remove_pod(pod.key)
            return
        state = self._pods.get(pod.key)
        if state is not None and state.assumed and state.node != pod.node_name:
            logger.info("pod %s: assumed on %s but bound to %s", pod.key, state.node, pod.node_name)
        self._detach(pod.key)
        self._node_for_pod(pod.node_name).add_pod(pod)
        self._pods[pod.key] = PodState(pod, pod.node_name, assumed=False)

    def remove_pod(self, key: str) -> None:
        self._detach(key)

    def expire(self, now: float) -> list[str]:
        """Drop assumptions whose binding finished `assumed_ttl` ago unconfirmed."""
        stale = [
            key
            for key, state in self._pods.items()
            if state.assumed and state.deadline is not None and state.deadline <= now
        ]
        for key in stale:
            self._detach(key)
        return stale

    def assumed_keys(self) -> list[str]:
        return [key for key, state in self._pods.items() if state.assumed]
