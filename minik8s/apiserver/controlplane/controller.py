"""Starts and stops the apiserver's own background work (see the package's docstring)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from minik8s.apiserver.config import ApiserverSettings
from minik8s.apiserver.controlplane import allocationrepair
from minik8s.apiserver.registry import Registry
from minik8s.client import tasks

logger = logging.getLogger(__name__)


@dataclass
class ControlPlane:
    settings: ApiserverSettings
    registry: Registry
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    async def start(self) -> None:
        store = self.registry.store
        self._tasks.append(tasks.spawn(allocationrepair.run(store), "service address repair"))

    async def stop(self) -> None:
        await tasks.cancel_and_wait(self._tasks)
        self._tasks.clear()
