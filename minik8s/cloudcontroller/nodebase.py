"""What the two cloud controllers of Nodes (`cloud-node`, `cloud-node-lifecycle`) are built
from: what every cloud controller is (`base.ControllerBase`) and the provider's instances."""

from __future__ import annotations

from minik8s.cloudcontroller.base import ControllerBase, ControllerContext
from minik8s.cloudcontroller.provider import Instances


class NodeControllerBase(ControllerBase):
    """Subclasses set up what is their own in `_init_controller`."""

    def __init__(self, context: ControllerContext, instances: Instances) -> None:
        super().__init__(context)
        self.instances = instances
        self._init_controller()

    def _init_controller(self) -> None:
        pass
