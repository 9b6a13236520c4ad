"""What the two cloud controllers of Nodes (`cloud-node`, `cloud-node-lifecycle`) are built
from: the API client, a Node informer, the event recorder, the settings and the provider's
instances."""

from __future__ import annotations

from minik8s.api.resources import NODES
from minik8s.client.api import ApiClient
from minik8s.client.informer import InformerFactory
from minik8s.cloudcontroller.config import Settings
from minik8s.cloudcontroller.provider import Instances
from minik8s.componentbase.events import EventRecorder


class NodeControllerBase:
    """Subclasses set up what is their own in `_init_controller`."""

    name: str

    def __init__(
        self,
        client: ApiClient,
        informers: InformerFactory,
        recorder: EventRecorder,
        settings: Settings,
        instances: Instances,
    ) -> None:
        self.client = client
        self.recorder = recorder
        self.settings = settings
        self.instances = instances
        self.nodes = informers.informer(NODES)
        self._init_controller()

    def _init_controller(self) -> None:
        pass
