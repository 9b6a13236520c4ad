"""Heap probe for `bench.density --heap-probe` (on PYTHONPATH of every process it starts).

On SIGUSR2 a process writes `<MINIK8S_HEAP_PROBE_DIR>/heap-<pid>.json`: its RSS, what glibc's
malloc holds (`mallinfo2`: in use, free but kept, mmapped), what Python's small-object
allocator holds (`sys._debugmallocstats`: bytes in allocated blocks, arenas), then calls
`malloc_trim(0)` and records the RSS after. Bench-only: nothing in minik8s imports it.

With `MINIK8S_HEAP_TRACE=N` (frames, 1-5) a process whose command line contains
`MINIK8S_HEAP_TRACE_ONLY` (e.g. `minik8s.apiserver`; empty: every process) starts `tracemalloc`
at start-up, and on SIGUSR2 also writes `heap-<pid>-tracemalloc.txt`: the live allocation sites
by size, grouped by file:line and by traceback. Tracing slows the process; without the variable
nothing is traced.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import signal
import sys
import tempfile
import tracemalloc
from typing import Any

_DIR = os.environ.get("MINIK8S_HEAP_PROBE_DIR", "")
_TRACE_FRAMES = int(os.environ.get("MINIK8S_HEAP_TRACE", "0") or 0)
_TRACE_ONLY = os.environ.get("MINIK8S_HEAP_TRACE_ONLY", "")
_TOP = 30


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


def _cmdline() -> str:
    with open(f"/proc/{os.getpid()}/cmdline", "rb") as f:
        return f.read().replace(b"\0", b" ").decode(errors="replace")


def _site(frame: tracemalloc.Frame) -> str:
    parts = frame.filename.split(os.sep)
    for anchor in ("minik8s", "site-packages", "python3.11", "python3.12", "python3.13"):
        if anchor in parts:
            parts = parts[parts.index(anchor) + (anchor != "minik8s") :]
            break
    return f"{'/'.join(parts)}:{frame.lineno}"


def _tracemalloc_report(path: str) -> None:
    """The top live allocation sites, by file:line and by traceback, into `path`."""
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)]
    )
    traced, peak = tracemalloc.get_traced_memory()
    lines = [
        f"tracemalloc: {traced / 2**20:.1f} MB traced now (peak {peak / 2**20:.1f} MB), "
        f"{tracemalloc.get_tracemalloc_memory() / 2**20:.1f} MB of tracemalloc's own, "
        f"{tracemalloc.get_traceback_limit()} frames",
    ]
    for key in ("lineno", "traceback"):
        stats = snapshot.statistics(key)
        total = sum(s.size for s in stats)
        lines.append(f"\nby {key}: {len(stats)} sites, {total / 2**20:.1f} MB; top {_TOP}:")
        lines.append(f"{'MB':>8} {'count':>9}  site")
        for stat in stats[:_TOP]:
            frames = list(reversed(stat.traceback))  # innermost first
            lines.append(
                f"{stat.size / 2**20:8.2f} {stat.count:9d}  "
                + " <- ".join(_site(f) for f in frames)
            )
    with open(path + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(path + ".tmp", path)


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
    if tracemalloc.is_tracing():  # before the figures: the bench waits for those
        _tracemalloc_report(os.path.join(_DIR, f"heap-{os.getpid()}-tracemalloc.txt"))
    with open(path + ".tmp", "w") as f:
        json.dump(figures, f)
    os.replace(path + ".tmp", path)


if _DIR:
    signal.signal(signal.SIGUSR2, _probe)
    if _TRACE_FRAMES > 0 and (not _TRACE_ONLY or _TRACE_ONLY in _cmdline()):
        tracemalloc.start(_TRACE_FRAMES)
