"""`csrcleaner`: removes finished requests, as Kubernetes' does: approved or denied ones an hour
after, failed ones an hour after, pending ones after a day, and issued ones whose certificate
has expired."""

from __future__ import annotations

import asyncio
import base64
import datetime
import logging

from cryptography import x509

from minik8s.api import certificates, errors, meta, times
from minik8s.api.meta import Object
from minik8s.api.resources import CERTIFICATESIGNINGREQUESTS
from minik8s.controllers.base import Controller

logger = logging.getLogger(__name__)

APPROVED_EXPIRATION = 3600.0
DENIED_EXPIRATION = 3600.0
PENDING_EXPIRATION = 24 * 3600.0
POLL_INTERVAL = 3600.0
"""Seconds between two passes over every request (Kubernetes' `pollingInterval`)."""


def should_delete(csr: Object, now: datetime.datetime) -> bool:
    created = times.parse_time(meta.meta(csr).get("creationTimestamp"))
    if created is None:
        return False

    def older(cond_type: str, seconds: float) -> bool:
        for c in certificates.conditions(csr):
            if c.get("type") == cond_type:
                at = times.parse_time(c.get("lastUpdateTime")) or created
                return (now - at).total_seconds() > seconds
        return False

    issued = (csr.get("status") or {}).get("certificate")
    if issued:
        try:
            cert = x509.load_pem_x509_certificate(base64.b64decode(issued))
            if cert.not_valid_after_utc < now:
                return True
        except ValueError:
            pass
    if older(certificates.APPROVED, APPROVED_EXPIRATION):
        return True
    if older(certificates.DENIED, DENIED_EXPIRATION) or older(
        certificates.FAILED, DENIED_EXPIRATION
    ):
        return True
    pending = not certificates.conditions(csr)
    return pending and (now - created).total_seconds() > PENDING_EXPIRATION


class CSRCleanerController(Controller):
    name = "csrcleaner"

    def register(self) -> None:
        self.csrs = self.ctx.informer(CERTIFICATESIGNINGREQUESTS)

    async def run(self) -> None:
        while not self.queue.shutting_down:
            now = datetime.datetime.now(datetime.UTC)
            for csr in self.csrs.store.list():
                if should_delete(csr, now):
                    await self.reconcile(meta.name_of(csr))
            await asyncio.sleep(POLL_INTERVAL)

    async def reconcile(self, key: str) -> None:
        try:
            await self.client.delete(CERTIFICATESIGNINGREQUESTS, key)
            logger.info("csr %s: cleaned up", key)
        except errors.NotFound:
            pass
