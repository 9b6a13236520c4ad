"""The Namespace controller: empty a Terminating namespace, then release it.

For a namespace with a deletionTimestamp and the `kubernetes` finalizer in `spec.finalizers`
it deletes every collection of every namespaced kind; while anything remains (pods waiting
for their kubelet, objects with finalizers) it looks again after `RECHECK_SECONDS`; once all
is gone it removes its finalizer through `PUT namespaces/<name>/finalize`, after which the
apiserver deletes the namespace.
"""

from __future__ import annotations

import copy
import logging

from minik8s.api import errors, meta, resources
from minik8s.api.resources import NAMESPACES
from minik8s.controllers.base import Controller

logger = logging.getLogger(__name__)

FINALIZER = "kubernetes"
RECHECK_SECONDS = 1.0
"""Seconds between two looks at a namespace whose content is still being deleted."""


def namespaced_kinds() -> list[resources.ResourceType]:
    """Every namespaced kind that can be deleted, dependents' owners first."""
    kinds = [
        r
        for r in resources.RESOURCES
        if r.namespaced and "deletecollection" in r.verbs and resources.is_storage_version(r)
    ]
    order = {"deployments": 0, "replicasets": 1, "pods": 2}
    return sorted(kinds, key=lambda r: order.get(r.plural, 3))


def needs_finalizing(namespace: dict) -> bool:
    finalizers = (namespace.get("spec") or {}).get("finalizers") or []
    return meta.is_deleting(namespace) and FINALIZER in finalizers


class NamespaceController(Controller):
    name = "namespace"

    def register(self) -> None:
        self.namespaces = self.ctx.informer(NAMESPACES)
        self.namespaces.add_event_handler(self.enqueue, lambda old, new: self.enqueue(new))

    async def reconcile(self, key: str) -> None:
        namespace = self.namespaces.store.get_by_key(key)
        if namespace is None or not needs_finalizing(namespace):
            return
        remaining = await self._delete_content(key)
        if remaining:
            logger.info("namespace %s: waiting for %s", key, ", ".join(
                f"{count} {plural}" for plural, count in remaining.items()))  # fmt: skip
            self.queue.add_after(key, RECHECK_SECONDS)
            return
        await self._finalize(namespace)

    async def _delete_content(self, namespace: str) -> dict[str, int]:
        """Delete every collection; the counts of what is still there."""
        remaining: dict[str, int] = {}
        for rt in namespaced_kinds():
            listing = await self.client.list(rt, namespace)
            items = listing.get("items") or []
            if not items:
                continue
            if any(not meta.is_deleting(item) for item in items):
                await self.client.delete_collection(rt, namespace)
                items = (await self.client.list(rt, namespace)).get("items") or []
            if items:
                remaining[rt.plural] = len(items)
        return remaining

    async def _finalize(self, namespace: dict) -> None:
        name = meta.name_of(namespace)
        body = copy.deepcopy(namespace)
        spec = body.setdefault("spec", {})
        spec["finalizers"] = [f for f in spec.get("finalizers") or [] if f != FINALIZER]
        try:
            await self.client.request("PUT", NAMESPACES.object_path(None, name) + "/finalize",
                                      json=body)  # fmt: skip
        except errors.NotFound:
            return
        logger.info("namespace %s: content deleted; finalized", name)
