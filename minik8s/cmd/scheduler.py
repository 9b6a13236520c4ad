"""minik8s-scheduler: assigns pending pods to nodes through the apiserver (see
`minik8s.scheduler`)."""

from __future__ import annotations

import asyncio

from minik8s.componentbase import runner
from minik8s.scheduler.app import serve
from minik8s.scheduler.config import parse_args


def main(argv: list[str] | None = None) -> None:
    settings = parse_args(argv)

    async def run(stop: asyncio.Event) -> None:
        await serve(settings, stop)

    runner.run(run, "minik8s-scheduler", settings.log_level)


if __name__ == "__main__":
    main()
