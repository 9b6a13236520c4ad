"""`tokencleaner`: deletes bootstrap token Secrets once they expire (Kubernetes' TokenCleaner),
each checked again when its expiration comes."""

from __future__ import annotations

import datetime
import logging

from minik8s.api import bootstraptoken, errors, meta
from minik8s.api.resources import SECRETS
from minik8s.controllers.base import Controller

logger = logging.getLogger(__name__)


class TokenCleaner(Controller):
    name = "tokencleaner"

    def register(self) -> None:
        self.secrets = self.ctx.informer(
            SECRETS,
            namespace=bootstraptoken.NAMESPACE,
            field_selector=f"type={bootstraptoken.SECRET_TYPE}",
        )
        self.secrets.add_event_handler(self.enqueue, lambda old, new: self.enqueue(new), None)

    async def reconcile(self, key: str) -> None:
        secret = self.secrets.store.get_by_key(key)
        if secret is None:
            return
        expires = bootstraptoken.expiration(secret)
        if expires is None:
            return
        now = datetime.datetime.now(datetime.UTC)
        if now < expires:
            self.queue.add_after(key, (expires - now).total_seconds() + 0.1)
            return
        try:
            await self.client.delete(
                SECRETS,
                meta.name_of(secret),
                bootstraptoken.NAMESPACE,
                preconditions={"uid": meta.uid_of(secret)},
            )
        except (errors.NotFound, errors.Conflict):
            return
        logger.info("deleted expired bootstrap token %s", meta.name_of(secret))
