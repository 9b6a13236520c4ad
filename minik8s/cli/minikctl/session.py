"""The global options (`--kubeconfig`, `--context`, `-n`) and running a command's coroutine
against an `ApiClient` built from them, with every failure mapped by `errors.handled`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import typer

from minik8s.cli.minikctl import errors
from minik8s.client import ApiClient, ClientSettings, RetryPolicy
from minik8s.client.kubeconfig import ClientConfig, load_kubeconfig

T = TypeVar("T")

CLI_SETTINGS = ClientSettings(
    connect_timeout=5.0,
    request_timeout=30.0,
    retry=RetryPolicy(max_attempts=3, backoff_base=0.1, backoff_cap=1.0),
    user_agent="minikctl/0.1",
)
"""A CLI gives up quickly on an unreachable server (3 attempts, under a second of backoff)."""


@dataclass
class Session:
    """What every command needs: where the server is and which namespace is meant."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace_flag: str | None = None
    _config: ClientConfig | None = field(default=None, repr=False)

    @property
    def config(self) -> ClientConfig:
        if self._config is None:
            self._config = load_kubeconfig(self.kubeconfig, self.context)
        return self._config

    @property
    def namespace(self) -> str:
        """`-n`, else the context's namespace, else `default`."""
        return self.namespace_flag or self.config.namespace

    def run(self, fn: Callable[[ApiClient], Awaitable[T]]) -> T:
        """Run `fn(client)` to completion; failures become one line on stderr and exit 1."""

        async def main() -> T:
            async with ApiClient(self.config, CLI_SETTINGS) as client:
                return await fn(client)

        with errors.handled():
            self.config  # noqa: B018 (a missing kubeconfig fails here, mapped)
            return asyncio.run(main())


def of(ctx: typer.Context) -> Session:
    """The session the root callback stored in the click context."""
    root = ctx.find_root()
    if not isinstance(root.obj, Session):
        root.obj = Session()
    return root.obj
