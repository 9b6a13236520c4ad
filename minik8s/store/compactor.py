"""etcd compaction as Kubernetes' apiserver does it, and defragmentation when it pays.

Every `interval` (5 minutes, `--etcd-compaction-interval`) each apiserver tries to bump the
version of one key with a compare-and-swap; the one that succeeds compacts etcd to the
revision it saw at the previous interval. So etcd keeps one to two intervals of history
(what watches and continue tokens can resume from) whatever the number of apiservers, and the
history of Lease renewals and Events stops growing. After a compaction, a member whose
database file is mostly free pages (at least `defrag_min_free_ratio` and
`defrag_min_free_bytes` of it) is defragmented, one member at a time.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import orjson

from minik8s.store import errors
from minik8s.store.etcd import EtcdStore

logger = logging.getLogger(__name__)

COMPACT_KEY = "/registry/compact_rev_key"
"""Under /registry/ so that every revision still reaches the watch cache's one watch."""


@dataclass(frozen=True)
class CompactionSettings:
    interval: float = 300.0
    """Seconds between compactions (0: never compact)."""
    defrag_min_free_ratio: float = 0.5
    """Defragment a member whose database file is at least this much free pages..."""
    defrag_min_free_bytes: int = 32 * 1024 * 1024
    """...and at least this many bytes of them."""


@dataclass
class Compactor:
    store: EtcdStore
    settings: CompactionSettings
    version: int = 0
    """The compaction key's version this apiserver expects (Kubernetes' "compact time")."""
    revision: int = 0
    """The revision seen at the previous attempt: what the next compaction compacts to."""
    compactions: int = 0
    defragmentations: int = 0

    async def run(self) -> None:
        """Compact every interval until cancelled."""
        while True:
            await asyncio.sleep(self.settings.interval)
            try:
                await self.compact_once()
                await self.defragment_if_worth_it()
            except errors.StoreError as e:  # etcd down: the store logs it once
                logger.debug("compaction skipped: %s", e)

    async def compact_once(self) -> None:
        previous = self.revision
        value = orjson.dumps({"compactedRevision": previous})
        written, version, revision = await self.store.put_if_version(
            COMPACT_KEY, value, self.version
        )
        self.version, self.revision = version, revision
        if not written or previous == 0:
            return  # another apiserver compacts this round, or this is the first round
        await self.store.compact(previous)
        self.compactions += 1
        logger.info("compacted etcd to revision %d", previous)

    async def defragment_if_worth_it(self) -> None:
        for member in await self.store.member_status():
            free = member.db_size - member.db_size_in_use
            if (
                free >= self.settings.defrag_min_free_bytes
                and free >= self.settings.defrag_min_free_ratio * member.db_size
            ):
                logger.info(
                    "defragmenting etcd %s: %d of its %d bytes are free pages",
                    member.address,
                    free,
                    member.db_size,
                )
                await self.store.defragment(member.address)
                self.defragmentations += 1
