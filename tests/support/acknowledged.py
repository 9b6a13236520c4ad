"""Writers for chaos tests: one that records every write the apiserver acknowledged (so that
afterwards none may be missing or stored twice), one that runs kubectl and retries a failure."""

from __future__ import annotations

import collections
import ssl
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import httpx

from tests.support.launcher import Launcher

SEQUENCE_LABEL = "minik8s.test/sequence"


@dataclass
class AcknowledgedWriter:
    """Creates ConfigMaps one after another through `url`, each with `generateName` and the label
    `SEQUENCE_LABEL=<n>`, n = 1, 2, …; each is sent once, never retried. Acknowledged = a 2xx
    came back. `generateName` makes a write applied twice visible (two objects with one n),
    which a fixed name would hide behind a 409."""

    url: str
    namespace: str
    verify: ssl.SSLContext
    acknowledged: list[int] = field(default_factory=list)
    failed: list[tuple[float, int, str]] = field(default_factory=list)
    """(when, n, why) of every write that got no 2xx: it may or may not be stored."""
    acknowledged_at: list[float] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        path = f"/api/v1/namespaces/{self.namespace}/configmaps"
        with httpx.Client(base_url=self.url, verify=self.verify, timeout=10) as client:
            sequence = 0
            while not self.stop.is_set():
                sequence += 1
                body = {
                    "metadata": {
                        "generateName": "ack-",
                        "labels": {SEQUENCE_LABEL: str(sequence)},
                    },
                    "data": {"sequence": str(sequence)},
                }
                try:
                    answer = client.post(path, json=body)
                    why = f"{answer.status_code} {answer.text[:200]}"
                    ok = answer.is_success
                except httpx.HTTPError as e:
                    why, ok = repr(e), False
                if ok:
                    self.acknowledged.append(sequence)
                    self.acknowledged_at.append(time.monotonic())
                else:
                    self.failed.append((time.monotonic(), sequence, why))
                self.stop.wait(0.01)

    def successes_after(self, moment: float) -> int:
        return sum(1 for at in self.acknowledged_at if at > moment)


def audit(acknowledged: Iterable[int], stored: Iterable[int]) -> tuple[list[int], list[int]]:
    """(acknowledged writes that are not stored, writes stored more than once)."""
    counts = collections.Counter(stored)
    lost = sorted(n for n in set(acknowledged) if counts[n] == 0)
    duplicated = sorted(n for n, count in counts.items() if count > 1)
    return lost, duplicated


@dataclass
class KubectlWriter:
    """kubectl creating ConfigMaps through the load balancer, one after another. A failed
    create is retried once with the same name, as a user would (AlreadyExists then means the
    first attempt was stored: the retry succeeded)."""

    launcher: Launcher
    namespace: str = "default"
    results: list[tuple[float, bool, str]] = field(default_factory=list)
    """(when it ended, succeeded, stderr) of every first attempt."""
    retries: list[tuple[float, bool, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def create(self, name: str) -> tuple[bool, str]:
        done = self.launcher.kubectl(
            "-n", self.namespace, "create", "configmap", name, "--request-timeout=10s"
        )
        return done.returncode == 0, done.stderr.strip()

    def run(self) -> None:
        count = 0
        while not self.stop.is_set():
            count += 1
            name = f"kubectl-writer-{count}"
            ok, why = self.create(name)
            self.results.append((time.monotonic(), ok, why))
            if not ok:
                again, why_again = self.create(name)
                again = again or "AlreadyExists" in why_again
                self.retries.append((time.monotonic(), again, why_again))

    def successes_after(self, moment: float) -> int:
        return sum(1 for at, ok, _ in self.results if ok and at > moment)

    def failures_between(self, start: float, end: float) -> list[str]:
        return [why for at, ok, why in self.results if not ok and start < at <= end]

    def failed_retries(self) -> list[str]:
        return [why for _, ok, why in self.retries if not ok]
