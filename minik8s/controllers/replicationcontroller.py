"""The ReplicationController controller: the legacy core/v1 equality-selector controller,
which Kubernetes runs as its ReplicaSet controller over a converted object. So does minik8s:
the same controller class, over `replicationcontrollers`, with the plain-map selector."""

from __future__ import annotations

from minik8s.api import selectors
from minik8s.api.meta import Object
from minik8s.api.resources import REPLICATIONCONTROLLERS
from minik8s.controllers.replicaset import ReplicaSetController


class ReplicationControllerController(ReplicaSetController):
    name = "replicationcontroller"
    resource = REPLICATIONCONTROLLERS

    def selector_of(self, owner: Object) -> selectors.LabelSelector:
        selector = (owner.get("spec") or {}).get("selector")
        if not selector:
            return selectors.NOTHING  # an RC without a selector owns nothing
        return selectors.label_selector_from_set(selector)
