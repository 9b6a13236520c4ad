"""etcd compaction and defragmentation (issue 17) against a real etcd: the compaction lock
lets one apiserver compact per round, each round compacts to the revision the previous round
saw, and a member whose file is mostly free pages is defragmented (its file shrinks)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from minik8s.store import errors
from minik8s.store.compactor import CompactionSettings, Compactor
from minik8s.store.etcd import EtcdStore, MemberStatus
from tests.support.processes import Etcd
from tests.support.waiting import async_wait_for

CHURN_KEY = "/registry/configmaps/default/churn"
VALUE = b"x" * (64 * 1024)
WRITES = 200  # ~12.5 MiB of history for one key
SETTINGS = CompactionSettings(
    interval=300.0, defrag_min_free_ratio=0.5, defrag_min_free_bytes=4 * 1024 * 1024
)


@pytest.fixture()
async def store(fresh_etcd: Etcd) -> AsyncIterator[EtcdStore]:
    client = EtcdStore([fresh_etcd.url])
    try:
        yield client
    finally:
        await client.close()


async def put(store: EtcdStore, key: str, value: bytes) -> tuple[int, int]:
    """Write `value` whatever the key's version; (its version, the revision) after it."""
    _, version, _ = await store.put_if_version(key, b"", -1)  # no version is -1: a read
    written, version, revision = await store.put_if_version(key, value, version)
    assert written
    return version, revision


async def churn(store: EtcdStore) -> int:
    """Rewrite one key WRITES times; its etcd revision after the last write."""
    for _ in range(WRITES):
        _, revision = await put(store, CHURN_KEY, VALUE)
    return revision


async def test_one_compaction_per_round_then_a_defragmentation(store: EtcdStore) -> None:
    ours, other = Compactor(store, SETTINGS), Compactor(store, SETTINGS)
    await ours.compact_once()  # the first round only remembers the revision
    await other.compact_once()  # the same round, another apiserver: it loses the lock
    assert (ours.compactions, other.compactions) == (0, 0)
    first_round = ours.revision

    last = await churn(store)
    await ours.compact_once()  # compacts to the first round's revision, before the churn
    assert ours.compactions == 1 and ours.revision > last
    await other.compact_once()  # lost the race again (its version was stale): no compaction
    assert other.compactions == 0
    with pytest.raises(errors.Compacted):
        async for _ in store.watch(CHURN_KEY, first_round - 1):
            break
    (before,) = await store.member_status()
    assert before.db_size >= WRITES * len(VALUE) // 2, before

    await ours.compact_once()  # now the churn's history goes
    assert ours.compactions == 2

    async def mostly_free() -> MemberStatus | None:
        # etcd compacts in the background, and bbolt reuses the freed pages only from a later
        # commit on: a write (as a live cluster always makes) lets the free pages show.
        await put(store, "/registry/configmaps/default/tick", b"t")
        (status,) = await store.member_status()
        free = status.db_size - status.db_size_in_use
        worth_it = free >= SETTINGS.defrag_min_free_bytes
        mostly = free >= SETTINGS.defrag_min_free_ratio * status.db_size
        return status if worth_it and mostly else None

    fragmented = await async_wait_for(mostly_free, "etcd to free the compacted history", 20)
    assert fragmented is not None
    await ours.defragment_if_worth_it()
    assert ours.defragmentations == 1
    (after,) = await store.member_status()
    assert after.db_size < fragmented.db_size // 2, (fragmented, after)
    await ours.defragment_if_worth_it()  # nothing worth it any more
    assert ours.defragmentations == 1
