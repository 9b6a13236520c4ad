"""The dashboard process: settings, the HTTP server on loopback, clean shutdown.
`main` is the `minik8s-dashboard` command."""

from __future__ import annotations

import asyncio
import logging

import uvicorn

from minik8s.client.kubeconfig import ConfigError
from minik8s.componentbase import httpserving, options, runner
from minik8s.dashboard import app, config, grants
from minik8s.dashboard.config import DashboardSettings
from minik8s.dashboard.sessions import SessionStore

logger = logging.getLogger(__name__)


async def run(settings: DashboardSettings, stop: asyncio.Event) -> None:
    try:
        base = options.load_client_config(settings.client)
    except ConfigError as e:
        raise runner.StartupError(str(e)) from e
    store = SessionStore(base, settings.session_idle_timeout, settings.session_max_age)
    application, _ = app.build(settings, store)
    if settings.grant_dir is not None:
        settings.grant_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        grants.sweep(settings.grant_dir)
    server = httpserving.ComponentServer(
        uvicorn.Config(
            application,
            host=settings.bind_address,
            port=settings.port,
            log_level="warning",
            lifespan="off",
            ws="websockets",
            timeout_graceful_shutdown=3,
        )
    )
    serving = asyncio.create_task(server.serve(), name="dashboard http")
    logger.info("dashboard listening on http://%s:%d", settings.bind_address, settings.port)
    stopping = asyncio.create_task(stop.wait(), name="dashboard stop signal")
    try:
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        server.request_exit()
        server.force_exit = True  # SSE streams never end by themselves
        stopping.cancel()
        await asyncio.gather(serving, return_exceptions=True)
        await store.close()
    if serving.done() and not stop.is_set() and not server.started:
        raise runner.StartupError(f"cannot listen on {settings.bind_address}:{settings.port}")


def main(argv: list[str] | None = None) -> None:
    settings = config.parse_args(argv)
    runner.run(lambda stop: run(settings, stop), "dashboard", settings.log_level)


if __name__ == "__main__":
    main()
