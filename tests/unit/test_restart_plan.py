"""The supervisor's restart policy: the kubelet's CrashLoopBackOff, on an injected clock."""

from __future__ import annotations

import signal

from minik8s.cli.launcher.restart_plan import Backoff, describe_exit


def _restarts(policy: Backoff, name: str, deaths: list[float]) -> list[float]:
    """The wait before each restart, a death at each of `deaths` (seconds)."""
    return [policy.restart_at(name, died) - died for died in deaths]


def test_the_first_restart_is_immediate_then_10s_doubling_to_5_minutes() -> None:
    policy = Backoff()
    deaths, now = [], 0.0
    for _ in range(9):  # each restart crashes again at once
        deaths.append(now)
        now = policy.restart_at("scheduler", now) + 1
    waits = [b - a - 1 for a, b in zip(deaths, [*deaths[1:], now], strict=True)]
    assert waits == [0, 10, 20, 40, 80, 160, 300, 300, 300]


def test_the_back_off_starts_over_after_10_minutes_up() -> None:
    policy = Backoff()
    assert _restarts(policy, "dns", [0, 1, 12]) == [0, 10, 20]
    assert _restarts(policy, "dns", [12 + 601]) == [0]  # up for more than 2 x 5 minutes
    assert _restarts(policy, "dns", [614]) == [10]
    assert _restarts(policy, "dns", [614 + 599]) == [20]  # not quite 10 minutes: doubles on


def test_each_component_has_its_own_back_off() -> None:
    policy = Backoff(initial=1, maximum=4)
    assert _restarts(policy, "a", [0, 0, 0, 0, 0]) == [0, 1, 2, 4, 4]
    assert _restarts(policy, "b", [0, 0]) == [0, 1]
    assert policy.reset_after == 8


def test_how_a_process_ended() -> None:
    assert describe_exit(3) == "exited with code 3"
    assert describe_exit(0) == "exited with code 0"
    assert describe_exit(-signal.SIGKILL) == "killed by SIGKILL"
    assert describe_exit(-200) == "killed by signal 200"
    assert "status unknown" in describe_exit(None)
