"""The ServiceAccounts controller: every active namespace has a `default` ServiceAccount.

As kube-controller-manager's `serviceaccount` controller: a namespace added or changed, or a
`default` ServiceAccount deleted, queues the namespace; its sync creates what is missing
(nothing in a namespace being deleted).
"""

from __future__ import annotations

import logging

from minik8s.api import errors
from minik8s.api.meta import Object, is_deleting, name_of, namespace_of
from minik8s.api.resources import NAMESPACES, SERVICEACCOUNTS
from minik8s.controllers.base import Controller

logger = logging.getLogger(__name__)

MANAGED_NAMES = ("default",)


class ServiceAccountsController(Controller):
    name = "serviceaccount"

    def register(self) -> None:
        self.namespaces = self.ctx.informer(NAMESPACES)
        self.accounts = self.ctx.informer(SERVICEACCOUNTS)
        self.namespaces.add_event_handler(self._namespace, lambda old, new: self._namespace(new))
        self.accounts.add_event_handler(None, None, self._account_deleted)

    def _namespace(self, namespace: Object) -> None:
        self.queue.add(name_of(namespace))

    def _account_deleted(self, account: Object) -> None:
        if name_of(account) in MANAGED_NAMES:
            self.queue.add(namespace_of(account))

    async def reconcile(self, key: str) -> None:
        namespace = self.namespaces.store.get_by_key(key)
        if namespace is None or is_deleting(namespace):
            return
        for name in MANAGED_NAMES:
            if self.accounts.store.get_by_key(f"{key}/{name}") is not None:
                continue
            try:
                await self.client.create(SERVICEACCOUNTS, {"metadata": {"name": name}}, key)
                logger.info("namespace %s: created ServiceAccount %s", key, name)
            except errors.AlreadyExists:
                pass
            except errors.Forbidden:
                return  # the namespace started terminating
