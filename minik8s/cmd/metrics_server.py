"""minik8s-metrics-server: serves metrics.k8s.io from the kubelets' resource metrics through
the aggregation layer (see `minik8s.metricsserver`)."""

from __future__ import annotations

import asyncio

from minik8s.componentbase import runner
from minik8s.metricsserver.app import serve
from minik8s.metricsserver.config import parse_args


def main(argv: list[str] | None = None) -> None:
    settings = parse_args(argv)

    async def run(stop: asyncio.Event) -> None:
        await serve(settings, stop)

    runner.run(run, "minik8s-metrics-server", settings.log_level)


if __name__ == "__main__":
    main()
