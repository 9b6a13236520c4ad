"""Requesting a kubelet certificate through a CertificateSigningRequest, keeping it in the
certificate directory, and renewing it before it expires (Kubernetes' certificate manager)."""

from __future__ import annotations

import asyncio
import base64
import datetime
import logging
import os
import random
from collections.abc import Awaitable, Callable
from pathlib import Path

from minik8s import pki
from minik8s.api import certificates, errors
from minik8s.api.meta import Object, name_of
from minik8s.api.resources import CERTIFICATESIGNINGREQUESTS
from minik8s.client.api import ApiClient
from minik8s.kubelet.certificates import plan

logger = logging.getLogger(__name__)

POLL = 0.25
"""Seconds between two looks at a pending request."""
RETRY = 5.0
"""Seconds before a failed renewal is tried again."""


class CertificateRefused(Exception):
    """The request was denied or failed, or not issued in time."""


async def request_certificate(
    client: ApiClient,
    kind: str,
    node: str,
    dns_names: tuple[str, ...] = (),
    ip_addresses: tuple[str, ...] = (),
    timeout: float = 300.0,
) -> bytes:
    """A new key and the certificate the cluster issues for it: the PEM of both (certificate
    first). Waits for approval and signing up to `timeout` seconds."""
    common_name, groups = plan.subject(node)
    request_pem, key_pem = await asyncio.to_thread(
        pki.new_certificate_request, common_name, groups, dns_names, ip_addresses
    )
    csr = await client.create(
        CERTIFICATESIGNINGREQUESTS,
        {
            "metadata": {"generateName": "csr-"},
            "spec": {
                "request": base64.b64encode(request_pem).decode(),
                "signerName": plan.signer(kind),
                "usages": list(plan.usages(kind)),
            },
        },
    )
    name = name_of(csr)
    logger.info("requested a %s certificate for %s (csr %s)", kind, node, name)
    cert_pem = await wait_issued(client, name, timeout)
    return cert_pem + key_pem


async def wait_issued(client: ApiClient, name: str, timeout: float) -> bytes:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            csr = await client.get(CERTIFICATESIGNINGREQUESTS, name)
        except errors.NotFound as e:
            raise CertificateRefused(f"csr {name} was deleted before it was issued") from e
        issued = _issued(csr)
        if issued is not None:
            return issued
        if asyncio.get_running_loop().time() > deadline:
            raise CertificateRefused(f"csr {name} was not issued within {timeout:.0f}s")
        await asyncio.sleep(POLL)


def _issued(csr: Object) -> bytes | None:
    for condition in certificates.conditions(csr):
        if condition.get("type") in (certificates.DENIED, certificates.FAILED):
            raise CertificateRefused(
                f"csr {name_of(csr)}: {condition.get('type')}: "
                f"{condition.get('reason', '')} {condition.get('message', '')}".strip()
            )
    value = (csr.get("status") or {}).get("certificate")
    return base64.b64decode(value) if value else None


def store(cert_dir: Path, kind: str, pem: bytes) -> Path:
    """Write `pem` as a new dated file (mode 0600) and point `kubelet-<kind>-current.pem` at it
    with one rename; returns the current file's path."""
    now = datetime.datetime.now(datetime.UTC)
    dated = plan.dated_file(cert_dir, kind, now)
    pki.write_private(dated, pem)
    current = plan.current_file(cert_dir, kind)
    link = current.with_name(f".{current.name}.tmp")
    link.unlink(missing_ok=True)
    os.symlink(dated.name, link)
    os.replace(link, current)
    for old in cert_dir.glob(f"kubelet-{kind}-*.pem"):
        if old not in (dated, current) and not old.name.endswith("current.pem"):
            old.unlink(missing_ok=True)  # the previous ones: only the newest is kept
    return current


def ensure_placeholder(cert_dir: Path, node: str, hosts: tuple[str, ...]) -> Path:
    """The serving file, with a self-signed certificate until the cluster issues one."""
    current = plan.current_file(cert_dir, plan.SERVING)
    pem = read_current(cert_dir, plan.SERVING)
    now = datetime.datetime.now(datetime.UTC)
    if pem is None or not plan.is_usable(pem, now):
        common_name, _ = plan.subject(node)
        store(cert_dir, plan.SERVING, pki.self_signed_serving(common_name, (node, *hosts)))
    return current


def read_current(cert_dir: Path, kind: str) -> bytes | None:
    try:
        return plan.current_file(cert_dir, kind).read_bytes()
    except OSError:
        return None


class CertificateManager:
    """Keeps `kubelet-<kind>-current.pem` valid: renews it at 70-90% of its life and calls
    `on_rotated` after each new one."""

    def __init__(
        self,
        client: ApiClient,
        kind: str,
        node: str,
        cert_dir: Path,
        on_rotated: Callable[[Path], Awaitable[None]],
        names: Callable[[], tuple[tuple[str, ...], tuple[str, ...]]] = lambda: ((), ()),
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.kind = kind
        self.node = node
        self.cert_dir = cert_dir
        self.on_rotated = on_rotated
        self.names = names
        """(DNS names, IP addresses) of a serving certificate."""
        self.rng = rng or random.Random()
        self.rotations = 0

    def deadline(self) -> datetime.datetime | None:
        """When the current certificate is due (None: there is none usable: now)."""
        pem = read_current(self.cert_dir, self.kind)
        window = plan.validity(pem) if pem else None
        if window is None or (pem is not None and plan.is_self_signed(pem)):
            return None
        return plan.rotation_deadline(window[0], window[1], self.rng)

    async def run(self) -> None:
        """Renew forever (until cancelled)."""
        while True:
            due = self.deadline()
            now = datetime.datetime.now(datetime.UTC)
            if due is not None and due > now:
                logger.info("%s certificate of %s: next rotation at %s", self.kind, self.node, due)
                await asyncio.sleep((due - now).total_seconds())
            try:
                await self.rotate()
            except (CertificateRefused, errors.ApiError) as e:
                logger.warning(
                    "%s certificate of %s: renewal failed (%s); retrying in %.0fs",
                    self.kind, self.node, e, RETRY,
                )  # fmt: skip
                await asyncio.sleep(RETRY)

    async def rotate(self) -> Path:
        dns, ips = self.names()
        pem = await request_certificate(self.client, self.kind, self.node, dns, ips)
        current = store(self.cert_dir, self.kind, pem)
        self.rotations += 1
        logger.info("%s certificate of %s rotated", self.kind, self.node)
        await self.on_rotated(current)
        return current
