"""Every component parses the flags it shares with the others the same way (componentbase's
options): Go durations, Go booleans, klog's `--v`, and one line + exit 2 for a bad value."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from minik8s.apiserver import config as apiserver
from minik8s.cloudcontroller import config as cloud_controller_manager
from minik8s.componentbase import options
from minik8s.controllers import config as controller_manager
from minik8s.dashboard import config as dashboard
from minik8s.dns import config as dns
from minik8s.hostgw import config as hostgw
from minik8s.kubelet import config as kubelet
from minik8s.metricsserver import config as metrics_server
from minik8s.proxy import config as proxy
from minik8s.scheduler import config as scheduler

# A short renew deadline and retry period let any lease duration under test be valid.
SHORT_RENEWAL = ["--leader-elect-renew-deadline=200ms", "--leader-elect-retry-period=100ms"]

# (program, its parser, a duration flag, how the settings expose it, other flags needed)
DURATION_FLAGS: list[tuple[str, Callable[[list[str]], Any], str, Callable[[Any], float], list]] = [
    ("minik8s-apiserver", apiserver.parse_args, "--watch-bookmark-interval",
     lambda s: s.watch_bookmark_interval, []),
    ("minik8s-scheduler", scheduler.parse_args, "--leader-elect-lease-duration",
     lambda s: s.leader_election.lease_duration, SHORT_RENEWAL),
    ("minik8s-scheduler", scheduler.parse_args, "--pod-max-backoff-seconds",
     lambda s: s.max_backoff, []),
    ("minik8s-controller-manager", controller_manager.parse_args, "--leader-elect-lease-duration",
     lambda s: s.leader_election.lease_duration, SHORT_RENEWAL),
    ("minik8s-controller-manager", controller_manager.parse_args, "--node-monitor-grace-period",
     lambda s: s.node_monitor_grace_period, []),
    ("minik8s-kubelet", kubelet.parse_args, "--node-status-update-frequency",
     lambda s: s.node_status_update_frequency, []),
    ("minik8s-proxy", proxy.parse_args, "--min-sync-period", lambda s: s.min_sync_period, []),
    ("minik8s-hostgw", hostgw.parse_args, "--resync-period", lambda s: s.resync_period, []),
    ("minik8s-dns", dns.parse_args, "--upstream-timeout", lambda s: s.upstream_timeout, []),
    ("minik8s-metrics-server", metrics_server.parse_args, "--metric-resolution",
     lambda s: s.metric_resolution, []),
    ("minik8s-cloud-controller-manager", cloud_controller_manager.parse_args,
     "--leader-elect-lease-duration", lambda s: s.leader_election.lease_duration, SHORT_RENEWAL),
    ("minik8s-cloud-controller-manager", cloud_controller_manager.parse_args,
     "--node-monitor-period", lambda s: s.node_monitor_period, []),
    ("minik8s-dashboard", dashboard.parse_args, "--session-idle-timeout",
     lambda s: s.session_idle_timeout, []),
]  # fmt: skip

GO_DURATIONS = [("15s", 15.0), ("1m30s", 90.0), ("500ms", 0.5), ("2", 2.0)]


@pytest.mark.parametrize(("text", "seconds"), GO_DURATIONS)
@pytest.mark.parametrize(
    ("prog", "parse", "flag", "value", "extra"), DURATION_FLAGS, ids=lambda v: str(v)[:30]
)
def test_every_component_takes_go_durations(
    prog: str, parse: Callable, flag: str, value: Callable, extra: list, text: str, seconds: float
) -> None:
    assert value(parse([f"{flag}={text}", *extra])) == seconds
    assert value(parse([flag, text, *extra])) == seconds


@pytest.mark.parametrize("bad", ["1x", "soon", "-5s"])
@pytest.mark.parametrize(
    ("prog", "parse", "flag", "value", "extra"), DURATION_FLAGS, ids=lambda v: str(v)[:30]
)
def test_a_bad_duration_is_one_line_and_exit_2(
    prog: str, parse: Callable, flag: str, value: Callable, extra: list, bad: str,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    with pytest.raises(SystemExit) as exited:
        parse([f"{flag}={bad}", *extra])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"{prog}: error: argument {flag}")
    assert "invalid duration" in err


PARSERS = [
    apiserver.parse_args, scheduler.parse_args, controller_manager.parse_args,
    kubelet.parse_args, proxy.parse_args, hostgw.parse_args, dns.parse_args,
    metrics_server.parse_args, cloud_controller_manager.parse_args, dashboard.parse_args,
]  # fmt: skip


@pytest.mark.parametrize("parse", PARSERS, ids=lambda p: p.__module__)
@pytest.mark.parametrize(
    ("argv", "level"),
    [([], "info"), (["--v=4"], "debug"), (["--v", "2"], "info"), (["-v", "5"], "debug"),
     (["--log-level=debug"], "debug"), (["--log-level", "warn"], "warning")],
)  # fmt: skip
def test_every_component_takes_klog_verbosity_and_level_names(
    parse: Callable, argv: list[str], level: str
) -> None:
    assert parse(argv).log_level == level


@pytest.mark.parametrize("parse", PARSERS, ids=lambda p: p.__module__)
def test_a_bad_flag_is_one_line(parse: Callable, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--v=loud"], ["--no-such-flag"]):
        with pytest.raises(SystemExit) as exited:
            parse(argv)
        assert exited.value.code == 2
        assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize(
    "parse",
    [scheduler.parse_args, controller_manager.parse_args, cloud_controller_manager.parse_args],
    ids=lambda p: p.__module__,
)
def test_leader_election_flags_as_kubernetes_spells_them(parse: Callable) -> None:
    defaults = parse([]).leader_election
    assert defaults.leader_elect and defaults.resource_namespace == "kube-system"
    assert (defaults.lease_duration, defaults.renew_deadline, defaults.retry_period) == (15, 10, 2)
    for text, expected in (("", True), ("=true", True), ("=false", False), ("=0", False)):
        assert parse([f"--leader-elect{text}"]).leader_election.leader_elect is expected
    with pytest.raises(SystemExit):
        parse(["--leader-elect-lease-duration=5s", "--leader-elect-renew-deadline=10s"])


def test_client_flags_and_master_override(tmp_path: Any) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: k, cluster: {server: 'https://10.0.0.1:6443'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
    )
    settings = scheduler.parse_args([f"--kubeconfig={kubeconfig}"])
    assert options.load_client_config(settings.client).server == "https://10.0.0.1:6443"
    moved = kubelet.parse_args([f"--kubeconfig={kubeconfig}", "--master=https://127.0.0.1:1/"])
    config = options.load_client_config(moved.client)
    assert (config.server, config.token) == ("https://127.0.0.1:1", "t")
