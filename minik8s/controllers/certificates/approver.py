"""`csrapproving`: approves the certificate requests of nodes (see `csr_plan` for which)."""

from __future__ import annotations

import logging

from minik8s.api import errors, meta, times
from minik8s.api.meta import Object
from minik8s.api.resources import CERTIFICATESIGNINGREQUESTS, NODES, SUBJECTACCESSREVIEWS
from minik8s.controllers.base import Context, Controller
from minik8s.controllers.certificates import csr_plan

logger = logging.getLogger(__name__)


class CSRApprovingController(Controller):
    name = "csrapproving"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)

    def register(self) -> None:
        self.csrs = self.ctx.informer(CERTIFICATESIGNINGREQUESTS)
        self.nodes = self.ctx.informer(NODES)
        self.csrs.add_event_handler(self.enqueue, lambda old, new: self.enqueue(new), None)
        # A serving request waits for its Node's addresses: look again when nodes change.
        self.nodes.add_event_handler(
            lambda node: self._pending_serving(), lambda old, new: self._pending_serving(), None
        )

    def _pending_serving(self) -> None:
        for csr in self.csrs.store.list():
            found = csr_plan.approval(csr)
            if found is not None and found.node:
                self.enqueue(csr)

    async def reconcile(self, key: str) -> None:
        csr = self.csrs.store.get_by_key(key)
        if csr is None:
            return
        found = csr_plan.approval(csr)
        if found is None:
            return
        if found.node:
            request = csr_plan.parse(csr)
            node = self.nodes.store.get_by_key(found.node)
            if request is None or not csr_plan.names_are_the_nodes(request, node):
                return  # not (yet) the Node's names: left for a person, looked at again later
        elif not await self._allowed(csr, found.sar_subresource):
            return
        await self._approve(csr, found.message)

    async def _allowed(self, csr: Object, subresource: str) -> bool:
        spec = csr_plan.spec(csr)
        review_spec: Object = {
            "user": spec.get("username") or "",
            "groups": list(spec.get("groups") or []),
            "resourceAttributes": {
                "group": "certificates.k8s.io",
                "resource": "certificatesigningrequests",
                "verb": "create",
                "subresource": subresource,
            },
        }
        if spec.get("uid"):
            review_spec["uid"] = spec["uid"]
        if spec.get("extra"):
            review_spec["extra"] = spec["extra"]
        review = await self.client.create(SUBJECTACCESSREVIEWS, {"spec": review_spec})
        return bool((review.get("status") or {}).get("allowed"))

    async def _approve(self, csr: Object, message: str) -> None:
        now = times.now_rfc3339()
        status = dict(csr.get("status") or {})
        status["conditions"] = [
            *(status.get("conditions") or []),
            {
                "type": "Approved",
                "status": "True",
                "reason": "AutoApproved",
                "message": message,
                "lastUpdateTime": now,
                "lastTransitionTime": now,
            },
        ]
        try:
            await self.client.update_subresource(
                CERTIFICATESIGNINGREQUESTS, {**csr, "status": status}, "approval"
            )
        except (errors.Conflict, errors.NotFound):
            return  # changed or gone meanwhile: the informer brings it back if needed
        logger.info("csr %s: approved (%s)", meta.name_of(csr), message)
