"""`bootstrapsigner`: keeps the JWS signatures of `kube-public/cluster-info` in step with the
bootstrap tokens (Kubernetes' BootstrapSigner)."""

from __future__ import annotations

import datetime
import logging

from minik8s.api import bootstraptoken, errors
from minik8s.api.resources import CONFIGMAPS, SECRETS
from minik8s.controllers.base import Controller
from minik8s.controllers.bootstrap import signer_plan

logger = logging.getLogger(__name__)

KEY = f"{bootstraptoken.CLUSTER_INFO_NAMESPACE}/{bootstraptoken.CLUSTER_INFO}"


class BootstrapSigner(Controller):
    name = "bootstrapsigner"

    def register(self) -> None:
        self.configmaps = self.ctx.informer(
            CONFIGMAPS,
            namespace=bootstraptoken.CLUSTER_INFO_NAMESPACE,
            field_selector=f"metadata.name={bootstraptoken.CLUSTER_INFO}",
        )
        self.secrets = self.ctx.informer(
            SECRETS,
            namespace=bootstraptoken.NAMESPACE,
            field_selector=f"type={bootstraptoken.SECRET_TYPE}",
        )
        poke = lambda *_: self.queue.add(KEY)  # noqa: E731
        self.configmaps.add_event_handler(poke, poke, None)
        self.secrets.add_event_handler(poke, poke, poke)

    async def reconcile(self, key: str) -> None:
        configmap = self.configmaps.store.get_by_key(KEY)
        if configmap is None:
            return
        now = datetime.datetime.now(datetime.UTC)
        data = signer_plan.desired_data(configmap, self.secrets.store.list(), now)
        if data == (configmap.get("data") or {}):
            return
        try:
            await self.client.update(CONFIGMAPS, {**configmap, "data": data})
        except errors.Conflict:
            self.queue.add_after(KEY, 0.2)  # the informer was behind
            return
        except errors.NotFound:
            return
        signed = sorted(k[len(bootstraptoken.JWS_PREFIX) :] for k in data if k.startswith("jws-"))
        logger.info("cluster-info: signed by token(s) %s", ", ".join(signed) or "(none)")
