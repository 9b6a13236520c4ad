"""The density bench's machinery end to end, small: 20 hollow nodes (kubemark processes: real
kubelet code on the fake runtime, a hollow proxy each) under the real scheduler and
controller-manager, 10 pods per node through Deployments and Services, a rolling update, a
scale-down and deletion. Timings are the bench's business (`bench/density.py`); this checks that
every phase completes, every pod's startup is observed, and no node went NotReady."""

from __future__ import annotations

import re

import pytest

from bench import density

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def test_small_density_run_completes_without_spurious_not_ready(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = density.parse_args(
        [
            "--control-plane=processes",
            "--nodes=20",
            "--pods-per-node=10",
            "--pods-per-deployment=20",
            "--qps=50",
            "--nodes-per-process=10",
            "--timeout=120",
        ]
    )
    result = density.run(args)
    out = capsys.readouterr().out
    assert result.not_ready == 0, f"nodes went NotReady during the run:\n{out}"
    # 200 pods, then 200 more from the rolling update: each startup seen by the watch
    assert len(result.startup) >= 400, out
    assert ("create", "pods") in result.api and ("update", "leases") in result.api, out
    for phase in ("nodes:", "create:", "rollout:", "scale:", "delete:"):
        assert phase in out, f"phase {phase} missing:\n{out}"
    # memory in all: the RSS sum and the PSS sum, which counts shared library pages once
    assert re.search(r"^  \[create\] control plane RSS \d+ MB, PSS \d+ MB ", out, re.M), out
    # where pod startup waits: clusterloader2's phases, each over all 200 pods of the create
    for phase in ("create_to_schedule", "schedule_to_run", "run_to_watch", "pod_startup"):
        assert re.search(rf"^  {phase} +p50 .*\(n=200\)$", out, re.M), f"{phase} missing:\n{out}"
    # and the hollow kubelets' own account of those pods' first syncs, step by step
    for step in ("watch", "queue", "volumes", "status_write"):
        assert re.search(rf"^create: kubelet first sync {step} +p50 .*\(n=200\)$", out, re.M), (
            f"kubelet step {step} missing:\n{out}"
        )
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(
        r"density: nodes=20 pods=200 startup_p99_s=[\d.]+ api_mutating_p99_s=[\d.]+ "
        r"rss_mb=\d+ ok=(true|false)",
        last,
    ), last
