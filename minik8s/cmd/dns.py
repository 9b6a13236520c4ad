"""minik8s-dns: the cluster DNS, answering `<svc>.<ns>.svc.<zone>` from its informers."""

from __future__ import annotations

import asyncio

from minik8s.componentbase import runner
from minik8s.dns import app, config


def main(argv: list[str] | None = None) -> None:
    settings = config.parse_args(argv)

    async def run(stop: asyncio.Event) -> None:
        await app.main(settings, stop)

    runner.run(run, "dns", settings.log_level, grace_seconds=10.0)


if __name__ == "__main__":
    main()
