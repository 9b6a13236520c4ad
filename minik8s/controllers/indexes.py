"""Informer indexes the controllers share: objects by owner, controller, uid and node."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from minik8s.api import meta, podutil

OWNER_INDEX = "owner-uid"
"""Informer index: the uids of an object's owners (`meta.owner_uids`)."""
CONTROLLER_INDEX = "controller-uid"
"""Informer index: the uid of an object's controlling owner."""
UID_INDEX = "uid"
"""Informer index: the object's own uid."""
NODE_INDEX = "node-name"
"""Pod informer index: `spec.nodeName`."""


def controller_uid(obj: Mapping[str, Any]) -> list[str]:
    ref = meta.controller_ref(obj)
    return [str(ref["uid"])] if ref and ref.get("uid") else []


def own_uid(obj: Mapping[str, Any]) -> list[str]:
    uid = meta.uid_of(obj)
    return [uid] if uid else []


def node_name(pod: Mapping[str, Any]) -> list[str]:
    name = podutil.node_name_of(pod)
    return [name] if name else []
