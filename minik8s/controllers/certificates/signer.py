"""`csrsigning`: issues approved requests of the kubelet and kube-apiserver-client signers with
the cluster CA (`--cluster-signing-cert-file`, `--cluster-signing-key-file`), for
`spec.expirationSeconds` or at most `--cluster-signing-duration`; a request that breaks its
signer's rules gets the `Failed` condition instead."""

from __future__ import annotations

import asyncio
import base64
import logging
from pathlib import Path

from minik8s import pki
from minik8s.api import errors, meta, times
from minik8s.api.resources import CERTIFICATESIGNINGREQUESTS
from minik8s.controllers.base import Context, Controller
from minik8s.controllers.certificates import csr_plan

logger = logging.getLogger(__name__)


class CSRSigningController(Controller):
    name = "csrsigning"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        s = ctx.settings
        self.ca: pki.SigningCA | None = None
        if s.cluster_signing_cert_file and s.cluster_signing_key_file:
            self.ca = pki.SigningCA.load(
                Path(s.cluster_signing_cert_file), Path(s.cluster_signing_key_file)
            )
        else:
            logger.warning(
                "csrsigning: no --cluster-signing-cert-file/--cluster-signing-key-file: "
                "approved requests stay unsigned"
            )
        self.duration = s.cluster_signing_duration

    def register(self) -> None:
        self.csrs = self.ctx.informer(CERTIFICATESIGNINGREQUESTS)
        self.csrs.add_event_handler(self.enqueue, lambda old, new: self.enqueue(new), None)

    async def reconcile(self, key: str) -> None:
        csr = self.csrs.store.get_by_key(key)
        if csr is None or self.ca is None or not csr_plan.wants_signing(csr):
            return
        request = csr_plan.parse(csr)
        problem = csr_plan.signing_problem(csr, request)
        status = dict(csr.get("status") or {})
        if problem is not None or request is None:
            now = times.now_rfc3339()
            status["conditions"] = [
                *(status.get("conditions") or []),
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "SignerValidationFailure",
                    "message": problem,
                    "lastUpdateTime": now,
                    "lastTransitionTime": now,
                },
            ]
            logger.warning("csr %s: not signed: %s", meta.name_of(csr), problem)
        else:
            usages = list(csr_plan.spec(csr).get("usages") or [])
            seconds = csr_plan.lifetime(csr, self.duration)
            # RSA/EC signing is CPU work: off the event loop.
            pem = await asyncio.to_thread(self.ca.sign, request.csr, usages, seconds)
            status["certificate"] = base64.b64encode(pem).decode()
        try:
            await self.client.update_status(CERTIFICATESIGNINGREQUESTS, {**csr, "status": status})
        except (errors.Conflict, errors.NotFound):
            return
        if "certificate" in status:
            logger.info("csr %s: issued for %s", meta.name_of(csr), request and request.common_name)
