"""What every cloud controller (`service`, `cloud-node`, `cloud-node-lifecycle`) is built from:
the API client, the informers, its event recorder and the settings (Kubernetes'
cloud-provider `ControllerContext`); each watches Nodes."""

from __future__ import annotations

from dataclasses import dataclass

from minik8s.api.resources import NODES
from minik8s.client.api import ApiClient
from minik8s.client.informer import InformerFactory
from minik8s.cloudcontroller.config import Settings
from minik8s.componentbase.events import EventRecorder


@dataclass(frozen=True)
class ControllerContext:
    client: ApiClient
    informers: InformerFactory
    recorder: EventRecorder
    """The controller's own (its Event source)."""
    settings: Settings


class ControllerBase:
    name: str

    def __init__(self, context: ControllerContext) -> None:
        self.client = context.client
        self.recorder = context.recorder
        self.settings = context.settings
        self.nodes = context.informers.informer(NODES)
