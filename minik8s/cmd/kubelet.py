"""minik8s-kubelet: the node agent, one process per node (`--runtime fake` for hollow nodes)."""

from __future__ import annotations

import asyncio

from minik8s.componentbase import runner
from minik8s.kubelet import kubelet
from minik8s.kubelet.config import parse_args


def main(argv: list[str] | None = None) -> None:
    settings = parse_args(argv)

    async def main_(stop: asyncio.Event) -> None:
        await kubelet.run(settings, stop)

    runner.run(main_, f"kubelet-{settings.node_name}", settings.log_level, settings.shutdown_grace)


if __name__ == "__main__":
    main()
