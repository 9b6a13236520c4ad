"""The Service address repair loop (Kubernetes' `repair` of the ClusterIP and NodePort
allocators, every 3 minutes): Services whose address keys are missing get them."""

from __future__ import annotations

import asyncio
import logging

from minik8s.apiserver import serviceallocation
from minik8s.store import errors as store_errors
from minik8s.store.etcd import EtcdStore

logger = logging.getLogger(__name__)

INTERVAL = 180.0
"""Seconds between two repairs (Kubernetes' `ipallocator` repair interval)."""


async def run(store: EtcdStore, interval: float = INTERVAL) -> None:
    while True:
        try:
            await serviceallocation.repair(store)
        except store_errors.StoreError as e:
            logger.debug("service address repair skipped: %s", e)
        await asyncio.sleep(interval)
