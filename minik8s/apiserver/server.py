"""The apiserver process (Kubernetes' `cmd/kube-apiserver/app/server.go`): uvicorn serving the
ASGI app, with a shutdown that ends watch streams first. `main` is `minik8s-apiserver`."""

from __future__ import annotations

import asyncio
import logging
import ssl
import sys
from types import FrameType

import uvicorn

from minik8s.apiserver import listeners
from minik8s.apiserver.app import create_app
from minik8s.apiserver.asgi import ApiserverApp
from minik8s.apiserver.config import parse_args
from minik8s.apiserver.streamproxy import is_connect_path
from minik8s.componentbase import runner, tlspeer, upgrade
from minik8s.componentbase.gctuning import tune_garbage_collector

logger = logging.getLogger("minik8s.apiserver")


class ApiserverServer(uvicorn.Server):
    """uvicorn waits for open responses on shutdown; end the watch streams first."""

    def __init__(self, config: uvicorn.Config, app: ApiserverApp) -> None:
        super().__init__(config)
        self.apiserver = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        try:
            asyncio.get_running_loop().call_soon_threadsafe(self.apiserver.begin_shutdown)
        except RuntimeError:  # no loop running yet
            logger.warning("signal %d before the event loop started", sig)
        super().handle_exit(sig, frame)
        # uvicorn re-raises captured signals after its shutdown, which would turn a clean stop
        # into death by SIGTERM; a clean stop exits 0.
        self._captured_signals.clear()


def main(argv: list[str] | None = None) -> None:
    settings = parse_args(argv)
    runner.setup_logging(settings.log_level)
    try:
        app = create_app(settings)
    except (OSError, ValueError) as e:
        print(f"minik8s-apiserver: {e}", file=sys.stderr)
        sys.exit(1)
    client_ca: dict[str, object] = {}
    if settings.client_ca_file:
        # Clients may present a certificate; OpenSSL verifies it against the CA.
        client_ca = {"ssl_ca_certs": settings.client_ca_file, "ssl_cert_reqs": ssl.CERT_OPTIONAL}
    config = uvicorn.Config(
        app,
        host=settings.bind_address,
        port=settings.port,
        loop="uvloop",
        http=upgrade.hijacking(is_connect_path),
        ws=tlspeer.PeerCertWebSocketProtocol,
        log_level="warning",
        access_log=False,
        server_header=False,  # Kubernetes' apiserver sends none
        proxy_headers=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
        timeout_keep_alive=120,
        ssl_certfile=settings.tls_cert_file,
        ssl_keyfile=settings.tls_private_key_file,
        **client_ca,  # type: ignore[arg-type]
    )
    server = ApiserverServer(config, app)
    try:
        sockets = listeners.listen_sockets(
            settings.bind_address, settings.port, settings.advertise_address
        )
    except OSError as e:
        logger.error("cannot listen on port %d: %s", settings.port, e)
        sys.exit(1)
    tune_garbage_collector()
    server.run(sockets=sockets)
    if not server.started:
        sys.exit(1)  # e.g. the port was taken


if __name__ == "__main__":
    main()
