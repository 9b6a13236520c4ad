"""The kubelet's TLS bootstrap (`--bootstrap-kubeconfig`), as Kubernetes' `LoadClientCert`:
when `--kubeconfig` does not exist or its certificate is no longer valid, the kubelet asks for
a client certificate with the bootstrap kubeconfig's token, writes it into `--cert-dir` and
writes `--kubeconfig` pointing at it; from then on the token is not used."""

from __future__ import annotations

import datetime
import logging
from pathlib import Path

import yaml

from minik8s import pki
from minik8s.client.api import ApiClient
from minik8s.client.kubeconfig import ClientConfig, ConfigError, load_kubeconfig
from minik8s.kubelet.certificates import manager, plan

logger = logging.getLogger(__name__)


def _current_cert(config: ClientConfig) -> bytes | None:
    if config.client_certificate_data:
        return config.client_certificate_data
    if config.client_certificate:
        try:
            return Path(config.client_certificate).read_bytes()
        except OSError:
            return None
    return None


def _ca_of(config: ClientConfig) -> bytes:
    if config.certificate_authority_data:
        return config.certificate_authority_data
    if config.certificate_authority:
        return Path(config.certificate_authority).read_bytes()
    return b""


def kubeconfig_usable(path: Path, now: datetime.datetime) -> bool:
    try:
        config = load_kubeconfig(path)
    except (ConfigError, OSError):
        return False
    pem = _current_cert(config)
    return pem is not None and plan.is_usable(pem, now)


async def bootstrap_client(
    kubeconfig: Path, bootstrap_kubeconfig: Path, cert_dir: Path, node: str, timeout: float
) -> bool:
    """Make `kubeconfig` usable; True when a new certificate was requested."""
    now = datetime.datetime.now(datetime.UTC)
    if kubeconfig_usable(kubeconfig, now):
        return False
    current = manager.read_current(cert_dir, plan.CLIENT)
    bootstrap = load_kubeconfig(bootstrap_kubeconfig)
    ca = _ca_of(bootstrap)
    if current is None or not plan.is_usable(current, now):
        logger.info("no valid client certificate: bootstrapping with %s", bootstrap_kubeconfig)
        async with ApiClient(bootstrap) as client:
            pem = await manager.request_certificate(client, plan.CLIENT, node, timeout=timeout)
        manager.store(cert_dir, plan.CLIENT, pem)
    text = yaml.safe_dump(
        plan.kubeconfig(bootstrap.server, ca, plan.current_file(cert_dir, plan.CLIENT)),
        sort_keys=False,
    )
    pki.write_private(kubeconfig, text)
    logger.info("wrote %s (client certificate in %s)", kubeconfig, cert_dir)
    return True
