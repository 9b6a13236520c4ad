"""gRPC channels to etcd's members: TLS with a client certificate, and failover between them.

Every `--etcd-servers` endpoint is known; one is in use at a time. When a call finds it
unreachable, the next one takes over (`fail_over`), as etcd's own client balances over its
endpoints, so losing one member of three costs a retried request, not the cluster. A member
that comes back is used again when it is the next one's turn.

TLS: `https://` endpoints are verified against `ca_file`; with `cert_file`/`key_file` the
apiserver presents its client certificate (etcd's `--client-cert-auth`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import grpc
from aetcd import rpc

logger = logging.getLogger(__name__)

KEEPALIVE_OPTIONS = (
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
)
"""A member that stops answering is noticed within ~40 s while a call (the apiserver's watch)
is open; pings only then, as etcd's server refuses pings without calls ("too_many_pings")."""


@dataclass(frozen=True)
class TlsFiles:
    """The apiserver's `--etcd-cafile`, `--etcd-certfile` and `--etcd-keyfile`."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    def credentials(self) -> grpc.ChannelCredentials:
        def read(path: Path | None) -> bytes | None:
            return path.read_bytes() if path is not None else None

        return grpc.ssl_channel_credentials(
            root_certificates=read(self.ca_file),
            private_key=read(self.key_file),
            certificate_chain=read(self.cert_file),
        )


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    secure: bool

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def parse_endpoint(url: str) -> Endpoint:
    """`http://host:port`, `https://host:port` or `host:port` (plain)."""
    parsed = urlparse(url if "://" in url else f"http://{url}")
    if parsed.scheme not in ("http", "https"):
        raise ValueError(f"etcd endpoint {url!r}: the scheme must be http or https")
    return Endpoint(parsed.hostname or "127.0.0.1", parsed.port or 2379, parsed.scheme == "https")


class Channel:
    """One open gRPC channel to one member, with etcd's service stubs."""

    def __init__(self, endpoint: Endpoint, tls: TlsFiles | None) -> None:
        self.endpoint = endpoint
        if endpoint.secure:
            self.grpc = grpc.aio.secure_channel(
                endpoint.address, (tls or TlsFiles()).credentials(), options=KEEPALIVE_OPTIONS
            )
        else:
            self.grpc = grpc.aio.insecure_channel(endpoint.address, options=KEEPALIVE_OPTIONS)
        self.kv = rpc.KVStub(self.grpc)
        self.lease = rpc.LeaseStub(self.grpc)
        self.maintenance = rpc.MaintenanceStub(self.grpc)
        self.watch = rpc.WatchStub(self.grpc)

    def ready(self) -> bool:
        """True when the channel is connected (a call that fails now may have been sent)."""
        return self.grpc.get_state() == grpc.ChannelConnectivity.READY

    async def close(self) -> None:
        await self.grpc.close()


class Endpoints:
    """Channels to every member, opened lazily; `current` is the one calls go to."""

    def __init__(self, urls: list[str], tls: TlsFiles | None = None) -> None:
        if not urls:
            raise ValueError("no etcd endpoint given")
        self.endpoints = [parse_endpoint(url) for url in urls]
        self.tls = tls
        self._channels: dict[int, Channel] = {}
        self._index = 0

    def __len__(self) -> int:
        return len(self.endpoints)

    @property
    def current(self) -> Channel:
        channel = self._channels.get(self._index)
        if channel is None:
            channel = self._channels[self._index] = Channel(self.endpoints[self._index], self.tls)
        return channel

    def fail_over(self, failed: Channel) -> None:
        """`failed` did not answer: move to the next member (once, however many calls saw it)."""
        if len(self.endpoints) == 1 or self._channels.get(self._index) is not failed:
            return
        self._index = (self._index + 1) % len(self.endpoints)
        logger.warning(
            "etcd %s did not answer; using %s",
            failed.endpoint.address,
            self.endpoints[self._index].address,
        )

    def all(self) -> list[Channel]:
        """A channel to every member (for per-member maintenance such as defragmentation)."""
        for index, endpoint in enumerate(self.endpoints):
            if index not in self._channels:
                self._channels[index] = Channel(endpoint, self.tls)
        return [self._channels[i] for i in range(len(self.endpoints))]

    async def close(self) -> None:
        channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            await channel.close()
