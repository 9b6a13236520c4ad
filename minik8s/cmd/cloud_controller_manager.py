"""minik8s-cloud-controller-manager: the service, cloud-node and cloud-node-lifecycle
controllers with a `local` or `docker` cloud provider, in one leader-elected process."""

from __future__ import annotations

import asyncio

from minik8s.cloudcontroller import config, manager
from minik8s.componentbase import runner


def main(argv: list[str] | None = None) -> None:
    settings = config.parse_args(argv)

    async def run(stop: asyncio.Event) -> None:
        await manager.main(settings, stop)

    runner.run(run, "cloud-controller-manager", settings.log_level)


if __name__ == "__main__":
    main()
