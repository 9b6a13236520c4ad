"""minik8s-apiserver: the only process that talks to etcd."""

from __future__ import annotations

import logging
import sys

import uvicorn

from minik8s.apiserver.app import create_app
from minik8s.apiserver.config import parse_args


def main(argv: list[str] | None = None) -> None:
    settings = parse_args(argv)
    logging.basicConfig(
        level=settings.log_level.upper() if not settings.log_level.isdigit() else "INFO",
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.bind_address,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
        timeout_keep_alive=120,
        ssl_certfile=settings.tls_cert_file,
        ssl_keyfile=settings.tls_private_key_file,
    )


if __name__ == "__main__":
    main()
