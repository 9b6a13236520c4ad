"""The load balancer in front of several apiservers: HAProxy (Debian's `haproxy`), as kubeadm's
HA guide and kind run it.

TCP mode (TLS passes through: clients verify the apiservers' own certificate and present
their client certificates to them), round robin, and an HTTPS health check of every
apiserver's `/readyz` each `check_interval` (verified against the cluster CA): an apiserver
that fails `fall` checks in a row (or refuses connections) takes no new connection, and its
open ones are cut (`on-marked-down shutdown-sessions`) so that watches reconnect elsewhere; a
connection that cannot reach a server is redispatched to another. With the defaults a dead
apiserver is out within ~2 s. Its stats socket (mode 0600) tells `minik8s status` which
apiservers are up.
"""

from __future__ import annotations

import csv
import io
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

BACKEND = "kube-apiservers"


@dataclass(frozen=True)
class Settings:
    bind: tuple[str, int]
    """Where clients connect (the cluster's endpoint)."""
    servers: Sequence[tuple[str, str, int]]
    """(name, address, port) of every apiserver."""
    ca_file: Path
    """The cluster CA: the health checks verify each apiserver's certificate with it."""
    stats_socket: Path
    check_interval_ms: int = 500
    fall: int = 2
    rise: int = 1
    tunnel_timeout: str = "1h"
    """How long an idle connection (a quiet watch) stays open."""
    extra_binds: Sequence[tuple[str, int]] = ()
    """More listening addresses (e.g. a bridge that other "machines" reach)."""
    check_timeout: str = ""
    """How long one health check may take ("": `check_interval_ms`, HAProxy's default)."""
    resolver: tuple[str, int] | None = None
    """A DNS server that names the apiservers (Docker's embedded one, 127.0.0.11:53, as kind
    does): their addresses are re-resolved, so an apiserver container that comes back with
    another address is found again, and a name not resolvable yet does not stop HAProxy."""
    monitor: tuple[str, int] | None = None
    """Where HAProxy answers `GET /healthz`: 200 while at least one apiserver is UP, else 503
    (the load balancer's own health check, e.g. docker-compose's)."""


def render(s: Settings) -> str:
    """haproxy.cfg for `s`."""
    binds = "\n".join(f"    bind {host}:{port}" for host, port in (s.bind, *s.extra_binds))
    resolve = " resolvers dns init-addr last,libc,none" if s.resolver else ""
    servers = "\n".join(
        f"    server {name} {address}:{port} check check-ssl verify required "
        f"ca-file {s.ca_file} inter {s.check_interval_ms} fall {s.fall} rise {s.rise} "
        f"on-marked-down shutdown-sessions{resolve}"
        for name, address, port in s.servers
    )
    extra = ""
    if s.resolver:
        host, port = s.resolver
        extra += f"""
resolvers dns
    nameserver dns {host}:{port}
    hold valid 1s
    hold obsolete 1s
"""
    if s.monitor:
        host, port = s.monitor
        extra += f"""
frontend monitor
    mode http
    option dontlog-normal
    bind {host}:{port}
    monitor-uri /healthz
    monitor fail if {{ nbsrv({BACKEND}) lt 1 }}
"""
    return f"""# Written by minik8s; rewritten on every `minik8s up`.
global
    log stderr format raw local0 notice
    maxconn 4000
    stats socket {s.stats_socket} mode 600 level admin

defaults
    mode tcp
    log global
    option tcplog
    option dontlognull
    option redispatch
    retries 2
    timeout connect 2s
    timeout client {s.tunnel_timeout}
    timeout server {s.tunnel_timeout}
    timeout tunnel {s.tunnel_timeout}
{f"    timeout check {s.check_timeout}" + chr(10) if s.check_timeout else ""}
frontend kube-apiserver
{binds}
    default_backend {BACKEND}

backend {BACKEND}
    balance roundrobin
    option httpchk
    http-check connect ssl
    http-check send meth GET uri /readyz
    http-check expect status 200
{servers}
{extra}"""


@dataclass(frozen=True)
class ServerState:
    name: str
    status: str
    """UP, DOWN, MAINT, `UP 1/2` (going down), `DOWN 1/1` (coming up), no check..."""
    sessions: int
    """Connections open to it now."""
    last_check: str


def parse_stats(text: str) -> list[ServerState]:
    """The backend's servers from HAProxy's `show stat` CSV."""
    lines = text.lstrip("# ").splitlines()
    rows = csv.DictReader(io.StringIO("\n".join(lines)))
    return [
        ServerState(
            row["svname"],
            row.get("status", ""),
            int(row.get("scur") or 0),
            row.get("check_status", ""),
        )
        for row in rows
        if row.get("pxname") == BACKEND and row.get("svname") not in ("FRONTEND", "BACKEND")
    ]


def query(stats_socket: Path, command: str, timeout: float = 2.0) -> str | None:
    """The answer of the running HAProxy's runtime API (its stats socket) to `command`, e.g.
    `show stat`, `show sess` (None: it does not answer)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(stats_socket))
            s.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
    except OSError:
        return None
    return b"".join(chunks).decode(errors="replace")


def query_stats(stats_socket: Path, timeout: float = 2.0) -> list[ServerState] | None:
    """The servers' states from the running HAProxy (None: it does not answer)."""
    text = query(stats_socket, "show stat", timeout)
    return None if text is None else parse_stats(text)
