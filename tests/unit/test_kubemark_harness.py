"""The density harness's fairness knobs: kubemark's `--use-real-proxier=false` (the hollow
proxies watch Services and Endpoints, render nothing) and the bench's `--kubemark-nice`
(hollow nodes below the control plane's CPU priority)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import density
from minik8s.kubemark import hollowproxy
from minik8s.kubemark.config import parse_args
from minik8s.proxy.config import ProxySettings
from tests.support.processes import Process


def test_use_real_proxier_flag_takes_go_boolean_forms() -> None:
    assert parse_args([]).use_real_proxier is True
    assert parse_args(["--use-real-proxier=false"]).use_real_proxier is False
    assert parse_args(["--use-real-proxier", "false"]).use_real_proxier is False
    assert parse_args(["--use-real-proxier"]).use_real_proxier is True


class _FakeInformer:
    made: list[_FakeInformer] = []

    def __init__(
        self, client: Any, resource: Any, name: str = "", label_selector: str = ""
    ) -> None:
        self.name = name
        self.label_selector = label_selector
        self.started = self.stopped = False
        _FakeInformer.made.append(self)

    def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True


class _NoSyncer:
    def __init__(self, *args: Any) -> None:
        raise AssertionError("the fake proxier renders nothing: no syncer")


def test_fake_proxier_runs_the_informers_without_a_syncer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hollowproxy, "Informer", _FakeInformer)
    monkeypatch.setattr(hollowproxy, "Syncer", _NoSyncer)
    _FakeInformer.made.clear()

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(
            hollowproxy.run(
                ProxySettings(node_name="n0"),
                object(),
                stop,
                real=False,  # type: ignore[arg-type]
            )
        )
        await asyncio.sleep(0)
        assert [i.started for i in _FakeInformer.made] == [True, True]
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
    assert [i.name for i in _FakeInformer.made] == ["services@n0", "endpointslices@n0"]
    assert {i.label_selector for i in _FakeInformer.made} == {  # as kube-proxy's informers
        "!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless"
    }
    assert all(i.stopped for i in _FakeInformer.made)


def test_bench_defaults_nice_kubemark_and_keep_the_real_proxier() -> None:
    args = density.parse_args([])
    assert args.kubemark_nice == 19 and args.use_real_proxier is True
    assert "nice +19" in density.harness_line(args)
    assert "real proxier" in density.harness_line(args)
    args = density.parse_args(["--kubemark-nice=0", "--use-real-proxier=false"])
    assert args.kubemark_nice == 0 and args.use_real_proxier is False
    assert "the control plane's priority" in density.harness_line(args)
    assert "below" not in density.harness_line(args)
    assert "fake proxier" in density.harness_line(args)


def test_hollow_argv_passes_the_proxier_mode(tmp_path: Path) -> None:
    cluster = density.Cluster(tmp_path, kubeconfig=tmp_path / "admin.conf")
    real = density.hollow_argv(cluster, 50, 50, "hollow-node-")
    assert "--first-index=50" in real and "--hollow-nodes=50" in real
    assert not any(a.startswith("--use-real-proxier") for a in real)
    fake = density.hollow_argv(cluster, 0, 10, "hollow-node-", real_proxier=False)
    assert "--use-real-proxier=false" in fake


def test_process_starts_at_the_asked_niceness(tmp_path: Path) -> None:
    log = tmp_path / "nice.log"
    script = (
        "import os, pathlib; p = pathlib.Path('/proc/self/autogroup'); "
        "print(os.nice(0), p.read_text().split()[-1] if p.exists() else 5)"
    )
    proc = Process("nice", [sys.executable, "-c", script], log, nice=5)
    proc.start()
    assert proc.popen is not None
    assert proc.popen.wait(30) == 0
    proc.stop()
    nice, group_nice = log.read_text().split()
    assert int(nice) == os.nice(0) + 5
    assert int(group_nice) == 5  # its session's autogroup, where the kernel has autogroups


def test_a_run_whose_pods_did_not_converge_is_not_ok() -> None:
    fine = density.Result(1000, 3000, [0.5] * 100, {}, 700.0, 0, 0, 9.0, [])
    assert fine.ok
    stuck = dataclasses.replace(fine, converged=False)
    assert not stuck.ok and stuck.line().endswith("ok=false")
