"""minik8s-proxy: programs iptables for ClusterIP, NodePort and LoadBalancer Services on this
node (root)."""

from __future__ import annotations

import asyncio

from minik8s.componentbase import runner
from minik8s.proxy import app, config


def main(argv: list[str] | None = None) -> None:
    settings = config.parse_args(argv)

    async def run(stop: asyncio.Event) -> None:
        await app.main(settings, stop)

    runner.run(run, "proxy", settings.log_level, grace_seconds=30.0)


if __name__ == "__main__":
    main()
