"""The process-wide, reference-counted context a proxy sync runs in."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator

import pytest

from minik8s.proxy import syncmode

pytestmark = pytest.mark.unit


@pytest.fixture()
def interval() -> Iterator[float]:
    """A switch interval of the process's own; the interval
    and the collector's state are put back after the test."""
    saved, enabled = sys.getswitchinterval(), gc.isenabled()
    sys.setswitchinterval(0.008)
    yield sys.getswitchinterval()
    sys.setswitchinterval(saved)
    (gc.enable if enabled else gc.disable)()


def syncing() -> bool:
    return sys.getswitchinterval() == syncmode.SWITCH_INTERVAL and not gc.isenabled()


def test_the_first_in_saves_and_the_last_out_restores(interval: float) -> None:
    gc.enable()
    mode = syncmode.SyncMode()
    mode.__enter__()  # sync A starts
    assert syncing()
    mode.__enter__()  # sync B starts while A runs: it must not save A's settings
    mode.__exit__(None, None, None)  # A ends first
    assert syncing() and mode.inside == 1
    mode.__exit__(None, None, None)  # B ends
    assert sys.getswitchinterval() == interval and gc.isenabled() and mode.inside == 0
    with mode:  # and again from the start
        assert syncing()
    assert sys.getswitchinterval() == interval and gc.isenabled()


def test_a_collector_that_was_off_stays_off_and_an_error_still_restores(interval: float) -> None:
    gc.disable()
    mode = syncmode.SyncMode()
    with pytest.raises(RuntimeError), mode:
        assert syncing()
        raise RuntimeError("sync failed")
    assert sys.getswitchinterval() == interval and not gc.isenabled() and mode.inside == 0
