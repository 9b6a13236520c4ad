"""The garbage collector's decisions, pure: what to do with an object given the state of
its owners, and whether a terminating owner may let go of its finalizer."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from minik8s.api import meta
from minik8s.api.meta import Object

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"
GC_FINALIZERS = (FOREGROUND, ORPHAN)


class OwnerState(enum.Enum):
    ABSENT = "absent"
    """No object with the reference's name and uid exists."""
    PRESENT = "present"
    DELETING_FOREGROUND = "deleting-foreground"
    """Being deleted, waiting for its (blocking) dependents first."""
    UNKNOWN = "unknown"
    """A kind we cannot look up: treated as present, never as a reason to delete."""


class Action(enum.Enum):
    NONE = "none"
    DELETE_BACKGROUND = "delete-background"
    DELETE_FOREGROUND = "delete-foreground"
    REMOVE_REFERENCES = "remove-references"


@dataclass
class Decision:
    action: Action
    dangling: list[str] = field(default_factory=list)
    """Uids of absent owners (the references to remove)."""


def owner_state(owner: Object | None, ref: dict[str, Any]) -> OwnerState:
    """The state of the owner `ref` names, given the object found by its name (or None)."""
    if owner is None or meta.uid_of(owner) != ref.get("uid"):
        return OwnerState.ABSENT
    if meta.is_deleting(owner) and FOREGROUND in (meta.meta(owner).get("finalizers") or []):
        return OwnerState.DELETING_FOREGROUND
    return OwnerState.PRESENT


def decide(states: dict[str, OwnerState], has_dependents: bool) -> Decision:
    """What to do with a dependent whose owners (by uid) are in `states` (Kubernetes'
    attemptToDeleteItem): keep it while any owner is solid, dropping references to absent
    ones; delete it when every owner is gone, in the foreground when an owner waits for it."""
    if not states:
        return Decision(Action.NONE)
    solid = [u for u, s in states.items() if s in (OwnerState.PRESENT, OwnerState.UNKNOWN)]
    dangling = [u for u, s in states.items() if s is OwnerState.ABSENT]
    waiting = [u for u, s in states.items() if s is OwnerState.DELETING_FOREGROUND]
    if solid:
        if dangling:
            return Decision(Action.REMOVE_REFERENCES, dangling)
        return Decision(Action.NONE)
    if waiting and has_dependents:
        return Decision(Action.DELETE_FOREGROUND, dangling)
    return Decision(Action.DELETE_BACKGROUND, dangling)


def blocks(dependent: Object, owner_uid: str) -> bool:
    """Whether `dependent`'s reference to the owner has blockOwnerDeletion."""
    ref = meta.find_owner(dependent, owner_uid)
    return ref is not None and bool(ref.get("blockOwnerDeletion"))


def pending_gc_finalizer(obj: Object) -> str | None:
    """The GC finalizer a terminating object waits on, if any (orphan first)."""
    if not meta.is_deleting(obj):
        return None
    finalizers = meta.meta(obj).get("finalizers") or []
    for name in (ORPHAN, FOREGROUND):
        if name in finalizers:
            return name
    return None
