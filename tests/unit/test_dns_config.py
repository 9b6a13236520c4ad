"""The DNS's flags and upstream parsing (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from minik8s.dns import config, forward
from minik8s.dns.forward import Upstream

pytestmark = pytest.mark.unit


def test_flags_and_defaults(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("search example\nnameserver 192.0.2.53\nnameserver fe80::1%eth0\n")
    settings = config.parse_args([
        "--dns-bind-address=10.244.0.1,127.0.0.1", "--dns-port=0", "--cluster-domain=Corp.Local.",
        "--ttl=30", f"--upstream={resolv}", "--upstream=127.0.0.2:5353", "--healthz-port=-1",
    ])  # fmt: skip
    assert settings.bind_addresses == ("10.244.0.1", "127.0.0.1")
    assert settings.cluster_domain == "corp.local" and settings.ttl == 30
    assert settings.upstreams == (
        Upstream("192.0.2.53"),
        Upstream("fe80::1"),
        Upstream("127.0.0.2", 5353),
    )
    assert config.parse_args(["--upstream=none"]).upstreams == ()


@pytest.mark.parametrize(
    "argv", [["--ttl=-1"], ["--ttl=x"], ["--upstream=dns.example"], ["--cluster-domain=."],
             ["--dns-port=70000"], ["--upstream=127.0.0.1:0"]],
)  # fmt: skip
def test_bad_flags_are_one_line_and_exit_2(argv: list[str], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exited:
        config.parse_args(argv)
    assert exited.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_upstream_forms() -> None:
    assert forward.parse_upstream("[2001:db8::1]:5353") == [Upstream("2001:db8::1", 5353)]
    assert forward.parse_upstream("192.0.2.1") == [Upstream("192.0.2.1", 53)]
