"""The components' garbage collector settings."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from minik8s.componentbase.gctuning import THRESHOLDS, tune_garbage_collector


@pytest.fixture
def restored_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_tuning_raises_the_thresholds_and_freezes_startup_objects(restored_gc: None) -> None:
    survivor = {"created": "before tuning"}
    tune_garbage_collector()
    assert gc.get_threshold() == THRESHOLDS
    assert gc.get_freeze_count() > 0
    assert all(survivor is not o for o in gc.get_objects())  # frozen objects are not scanned


def test_the_collector_still_runs_by_itself_past_the_threshold(restored_gc: None) -> None:
    tune_garbage_collector()
    runs: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            runs.append(info["generation"])

    gc.callbacks.append(count)
    try:
        kept = [[i] for i in range(THRESHOLDS[0] + 1000)]  # net new tracked objects
    finally:
        gc.callbacks.remove(count)
    assert kept and runs, "no automatic collection after more allocations than the threshold"
