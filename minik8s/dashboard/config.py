"""The dashboard's settings and flags."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from minik8s.componentbase import options
from minik8s.dashboard.streams import StreamSettings

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class DashboardSettings:
    client: options.ClientOptions = field(default_factory=options.ClientOptions)
    """The dashboard's own kubeconfig: the apiserver's address and CA (its identity is used
    only to check the audit webhook's caller, never for a user's request)."""
    bind_address: str = LOOPBACK
    """Where the HTTP server listens (loopback only: the dashboard never leaves the machine)."""
    port: int = 9090
    """The Kubernetes dashboard's HTTP port."""
    grant_dir: Path | None = None
    """Directory of one-time logins written by `minik8s dashboard`; None: none accepted."""
    static_dir: Path = Path(__file__).parent / "static"
    """The built frontend (`make dashboard`)."""
    audit_webhook_token_file: Path | None = None
    """File holding the bearer token the apiserver's audit webhook presents (mode 0600)."""
    session_idle_timeout: float = 3600.0
    """Seconds of inactivity after which a session ends (sign in again)."""
    session_max_age: float = 12 * 3600.0
    """Seconds a session lasts at most."""
    stream: StreamSettings = field(default_factory=StreamSettings)
    log_level: str = "info"


def parse_args(argv: list[str] | None = None) -> DashboardSettings:
    parser = options.new_parser("minik8s-dashboard", "The minik8s web UI.")
    options.add_client_flags(parser)
    parser.add_argument("--bind-address", default=LOOPBACK, help="address to listen on")
    parser.add_argument("--port", type=options.port, default=9090, help="HTTP port")
    parser.add_argument("--grant-dir", type=Path, default=None, help="one-time logins directory")
    parser.add_argument("--static-dir", type=Path, default=None, help="built frontend assets")
    parser.add_argument(
        "--audit-webhook-token-file", type=Path, default=None,
        help="bearer token the apiserver's audit webhook sends",
    )  # fmt: skip
    parser.add_argument(
        "--session-idle-timeout", type=options.positive_duration, default=3600.0,
        help="a session ends after this long without a request",
    )  # fmt: skip
    options.add_logging_flags(parser)
    args: argparse.Namespace = parser.parse_args(argv)
    return DashboardSettings(
        client=options.client_options(args),
        bind_address=args.bind_address,
        port=args.port,
        grant_dir=args.grant_dir,
        static_dir=args.static_dir or DashboardSettings.static_dir,
        audit_webhook_token_file=args.audit_webhook_token_file,
        session_idle_timeout=args.session_idle_timeout,
        log_level=args.log_level,
    )
