"""When the supervisor restarts a component that died: the kubelet's CrashLoopBackOff.

Pure decisions, no I/O (the clock is passed in). The kubelet restarts a static pod's
container at once the first time it dies, then waits 10 s, 20 s, 40 s… up to 5 minutes
after each later death, counted from that death; a container that ran for more than
10 minutes (twice the maximum) since its last back-off starts over at no wait
(`kuberuntime_manager.doBackOff` over client-go's `flowcontrol.Backoff`, with
`backOffPeriod` 10 s and `MaxContainerBackOff` 5 min). systemd's `Restart=always` with a
fixed `RestartSec` and a start limit would instead give up on a component that keeps
crashing; a cluster's control plane should keep trying, slower and slower, as the
kubelet does.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field

INITIAL_BACKOFF = 10.0
"""The kubelet's `backOffPeriod`: the wait before the second restart."""
MAX_BACKOFF = 300.0
"""The kubelet's `MaxContainerBackOff`."""


@dataclass
class _Entry:
    delay: float
    """The wait before the next restart, counted from the next death."""
    last_death: float


@dataclass
class Backoff:
    """Per-component restart delays (seconds; times from one monotonic clock)."""

    initial: float = INITIAL_BACKOFF
    maximum: float = MAX_BACKOFF
    entries: dict[str, _Entry] = field(default_factory=dict)

    @property
    def reset_after(self) -> float:
        """A component that stayed up this long since its last death starts over."""
        return 2 * self.maximum

    def restart_at(self, name: str, died_at: float) -> float:
        """When to restart `name`, which died at `died_at` (call once per death)."""
        entry = self.entries.get(name)
        if entry is None or died_at - entry.last_death > self.reset_after:
            self.entries[name] = _Entry(self.initial, died_at)
            return died_at
        self.entries[name] = _Entry(min(entry.delay * 2, self.maximum), died_at)
        return died_at + entry.delay


def describe_exit(returncode: int | None) -> str:
    """How a process ended, from its wait status as `subprocess` reports it (None: it was not
    the supervisor's child, so its status is not known)."""
    if returncode is None:
        return "exited (status unknown: `minik8s up` started it, not the supervisor)"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name}"
    return f"exited with code {returncode}"
