"""Owners and their pods, as Kubernetes' ControllerRefManager: find the controller of an
object in an informer, wake the owners an orphan would match, adopt and release pods."""

from __future__ import annotations

import copy
import logging

from minik8s.api import errors, meta, selectors
from minik8s.api.meta import Object
from minik8s.api.resources import PODS, ResourceType
from minik8s.client import cache
from minik8s.client.api import ApiClient
from minik8s.client.informer import Informer

logger = logging.getLogger(__name__)


def owner_key(obj: Object, kind: str, owners: Informer) -> str | None:
    """The key of the `kind` object in `owners` that controls `obj` (same uid), if any."""
    ref = meta.controller_ref(obj)
    if ref is None or ref.get("kind") != kind:
        return None
    key = f"{meta.namespace_of(obj)}/{ref.get('name')}"
    owner = owners.store.get_by_key(key)
    if owner is None or meta.uid_of(owner) != ref.get("uid"):
        return None
    return key


def matching_owner_keys(obj: Object, owners: Informer) -> list[str]:
    """Keys of the owners in `obj`'s namespace whose selector matches its labels."""
    labels = meta.labels_of(obj)
    keys = []
    for owner in owners.store.by_index(cache.NAMESPACE_INDEX, meta.namespace_of(obj)):
        try:
            selector = selectors.label_selector_from_object(
                (owner.get("spec") or {}).get("selector")
            )
        except selectors.InvalidSelector:
            continue
        if not selector.empty and selector.matches(labels):
            keys.append(cache.object_key(owner))
    return keys


async def adopt(client: ApiClient, owner_rt: ResourceType, owner: Object, pod: Object) -> bool:
    """Give an orphan pod a controller reference to `owner`; False if it changed meanwhile."""
    updated = copy.deepcopy(pod)
    meta.set_owner_reference(updated, meta.owner_reference(owner_rt, owner))
    try:
        await client.update(PODS, updated)
    except (errors.NotFound, errors.Conflict) as e:
        logger.info("%s %s: could not adopt pod %s: %s", owner_rt.singular, meta.ns_name(owner),
                    meta.name_of(pod), e.message)  # fmt: skip
        return False
    logger.info("%s %s: adopted pod %s", owner_rt.singular, meta.ns_name(owner), meta.name_of(pod))
    return True


async def release(client: ApiClient, owner_rt: ResourceType, owner: Object, pod: Object) -> None:
    """Drop `owner`'s reference from a pod that no longer matches its selector."""
    updated = copy.deepcopy(pod)
    meta.remove_owner_reference(updated, meta.uid_of(owner))
    try:
        await client.update(PODS, updated)
    except (errors.NotFound, errors.Conflict) as e:
        logger.info("%s %s: could not release pod %s: %s", owner_rt.singular,
                    meta.ns_name(owner), meta.name_of(pod), e.message)  # fmt: skip
        return
    logger.info("%s %s: released pod %s", owner_rt.singular, meta.ns_name(owner), meta.name_of(pod))
