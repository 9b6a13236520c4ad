"""minik8s-controller-manager: ReplicaSet, Deployment, Endpoints, garbage collector, Namespace
and Node lifecycle controllers in one leader-elected process."""

from __future__ import annotations

import asyncio

from minik8s.componentbase import runner
from minik8s.controllers import config, manager


def main(argv: list[str] | None = None) -> None:
    settings = config.parse_args(argv)

    async def run(stop: asyncio.Event) -> None:
        await manager.main(settings, stop)

    runner.run(run, "controller-manager", settings.log_level)


if __name__ == "__main__":
    main()
