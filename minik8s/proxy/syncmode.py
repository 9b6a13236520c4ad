"""The process-wide settings a sync runs under, shared by every sync in the process.

A sync lowers the GIL's switch interval and pauses the cyclic garbage collector (why: the
docstrings below). Both are process-wide, and syncs overlap when one process hosts many
syncers (kubemark runs up to 50 hollow proxies in one event loop): were each sync to save
and restore them itself, the first to end would restore them while another still renders,
and the last to end would "restore" the sync's own settings for good. So one reference-counted
context holds them: the first sync in saves the process's settings and sets the sync's, the
last one out restores what the first one saved."""

from __future__ import annotations

import gc
import sys
import threading
from types import TracebackType

SWITCH_INTERVAL = 0.001
"""The GIL's switch interval during a sync (Python's default: 5 ms): the rendering thread holds
the GIL, which the threads running the restore processes and the event loop need to start each
process and to see it end (measured: 0.15 s less for the first sync of 5 000 services)."""


class SyncMode:
    """A reference-counted context: while at least one sync is inside it, the switch interval
    is `switch_interval` and the cyclic garbage collector is off.

    The collector is paused because a sync allocates ~200 000 objects (rules, chains, plan)
    that mostly survive it: each time they push a collection to an older generation, the
    collector walks the whole heap, the informers' objects included (~40% of a 5 000-service
    render). Reference counting still frees what the sync replaces; the collector runs again
    (if it was on before the first sync came in) once the last sync is out."""

    def __init__(self, switch_interval: float = SWITCH_INTERVAL) -> None:
        self.switch_interval = switch_interval
        self._lock = threading.Lock()
        self._inside = 0
        self._saved_interval = 0.0
        self._gc_was_enabled = False

    @property
    def inside(self) -> int:
        """How many syncs are inside the context now."""
        return self._inside

    def __enter__(self) -> None:
        with self._lock:
            if self._inside == 0:
                self._saved_interval = sys.getswitchinterval()
                self._gc_was_enabled = gc.isenabled()
                sys.setswitchinterval(self.switch_interval)
                gc.disable()
            self._inside += 1

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        with self._lock:
            self._inside -= 1
            if self._inside == 0:
                sys.setswitchinterval(self._saved_interval)
                if self._gc_was_enabled:
                    gc.enable()


SYNCING = SyncMode()
"""The one context of the process: every Syncer enters this one."""
