"""Heap probe for `bench.density --heap-probe` (on PYTHONPATH of every process it starts).

On SIGUSR2 a process writes `<MINIK8S_HEAP_PROBE_DIR>/heap-<pid>.json`: its RSS, what glibc's
malloc holds (`mallinfo2`: in use, free but kept, mmapped), what Python's small-object
allocator holds (`sys._debugmallocstats`: bytes in allocated blocks, arenas), then calls
`malloc_trim(0)` and records the RSS after. Bench-only: nothing in minik8s imports it.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import signal
import sys
import tempfile
from typing import Any

_DIR = os.environ.get("MINIK8S_HEAP_PROBE_DIR", "")


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                     "uordblks", "fordblks", "keepcost")
    ]  # fmt: skip


def _rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _pymalloc() -> dict[str, float]:
    """The small-object allocator's figures, from `sys._debugmallocstats()` (it prints to fd 2)."""
    with tempfile.TemporaryFile() as out:
        saved = os.dup(2)
        try:
            os.dup2(out.fileno(), 2)
            sys._debugmallocstats()  # type: ignore[attr-defined]
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        text = out.read().decode(errors="replace")
    wanted = {
        "bytes in allocated blocks": "pymalloc_used_mb",
        "bytes in available blocks": "pymalloc_free_mb",
        "arenas allocated current": "pymalloc_arenas",
    }
    result: dict[str, float] = {}
    for line in text.splitlines():
        m = re.match(r"# (.+?)\s+=\s+([\d,]+)", line)
        if m and m.group(1) in wanted:
            value = int(m.group(2).replace(",", ""))
            key = wanted[m.group(1)]
            result[key] = value if key == "pymalloc_arenas" else value / 2**20
    return result


def _probe(signum: int, frame: Any) -> None:
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _MallInfo2
    info = libc.mallinfo2()
    figures: dict[str, float] = {
        "rss_mb": _rss_mb(),
        "malloc_in_use_mb": info.uordblks / 2**20,
        "malloc_free_kept_mb": info.fordblks / 2**20,
        "malloc_mmap_mb": info.hblkhd / 2**20,
        "malloc_heap_mb": info.arena / 2**20,
        "threads": len(os.listdir(f"/proc/{os.getpid()}/task")),
        "fds": len(os.listdir(f"/proc/{os.getpid()}/fd")),
        **_pymalloc(),
    }
    libc.malloc_trim(0)
    figures["rss_after_trim_mb"] = _rss_mb()
    path = os.path.join(_DIR, f"heap-{os.getpid()}.json")
    with open(path + ".tmp", "w") as f:
        json.dump(figures, f)
    os.replace(path + ".tmp", path)


if _DIR:
    signal.signal(signal.SIGUSR2, _probe)
