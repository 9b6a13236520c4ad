"""The dashboard's flow log (the architecture view's audit steps) when full: its memory and
the cost of appending, on audit events shaped like a density run's (hollow kubelets' pod
status updates, the scheduler's bindings, the controllers' creates).

    .venv/bin/python -m bench.flowlog [--events 60000] [--capacity 50000]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minik8s.dashboard import auditflow
from minik8s.dashboard.flowlog import FlowLog

SHAPES = [  # (user, verb, resource, subresource): a density run's mix, roughly
    ("system:node:hollow-{n}", "update", "pods", "status"),
    ("system:node:hollow-{n}", "update", "pods", "status"),
    ("system:node:hollow-{n}", "update", "leases", ""),
    ("system:kube-scheduler", "create", "pods", "binding"),
    ("system:serviceaccount:kube-system:replicaset-controller", "create", "pods", ""),
]


def audit_event(i: int) -> dict[str, Any]:
    user, verb, resource, subresource = SHAPES[i % len(SHAPES)]
    return {
        "stage": "ResponseComplete",
        "auditID": str(uuid.uuid4()),
        "user": {"username": user.format(n=i % 100)},
        "verb": verb,
        "objectRef": {"resource": resource, "subresource": subresource,
                      "namespace": f"density-{i % 10}", "name": f"web-{i % 300}-5d8f7c-{i:06d}"},
        "responseStatus": {"code": 201 if verb == "create" else 200},
        "stageTimestamp": "2026-12-07T18:00:00.123456Z",
    }  # fmt: skip


def measure(events: int, capacity: int) -> None:
    batches = [[audit_event(i) for i in range(s, min(s + 100, events))]
               for s in range(0, events, 100)]  # fmt: skip
    log = FlowLog(capacity)
    gc.collect()
    tracemalloc.start()
    started = time.perf_counter()
    steps = 0
    for batch in batches:  # as the audit webhook appends each EventList
        entries = [step for event in batch for step in auditflow.steps(event)]
        steps += len(entries)
        log.append(entries)
    elapsed = time.perf_counter() - started
    gc.collect()
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    kept = min(steps, capacity)
    print(f"flowlog: events={events} steps={steps} kept={kept} "
          f"held_mb={held / 1e6:.1f} bytes_per_step={held / kept:.0f} "
          f"append_us_per_step={elapsed / steps * 1e6:.2f} (under tracemalloc)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--capacity", type=int, default=50_000)
    args = parser.parse_args()
    measure(args.events, args.capacity)


if __name__ == "__main__":
    main()
