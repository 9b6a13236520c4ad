"""uvicorn as a component's HTTP(S) server: the component runner owns SIGTERM, and an idle
server does not wake ten times a second.

uvicorn's main loop polls `should_exit` every 0.1 s, which was half of an idle kubelet's CPU
(a node runs one kubelet, a hollow-node bench 50). `ComponentServer` refreshes the `Date`
header once a second, as uvicorn does, and wakes at once on `request_exit`.
"""

from __future__ import annotations

import asyncio
import contextlib

import uvicorn


class ComponentServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._exit = asyncio.Event()

    def request_exit(self) -> None:
        """Stop serving (the runner's stop, not a signal): finishes within one loop turn."""
        self.should_exit = True
        self._exit.set()

    async def main_loop(self) -> None:
        # on_tick(0) refreshes the Date header and answers whether to exit
        while not await self.on_tick(0):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit.wait(), 1.0)

    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[no-untyped-def]
        yield

    def install_signal_handlers(self) -> None:  # older uvicorn
        pass
