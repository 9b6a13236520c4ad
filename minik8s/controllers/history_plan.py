"""ControllerRevision history, pure (Kubernetes' `controller/history` and the DaemonSet's and
StatefulSet's `getPatch`/`Match`): what a revision stores, its hash and name, which revision
is current, what to create and what to prune.

A revision's `data` is the strategic merge patch that restores the owner's pod template,
`{"spec": {"template": {..., "$patch": "replace"}}}`, exactly what `kubectl rollout undo`
sends back for DaemonSets and StatefulSets.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from minik8s.api import meta
from minik8s.api.meta import Object
from minik8s.api.resources import ResourceType
from minik8s.controllers import rollout

DAEMONSET_HASH_LABEL = "controller-revision-hash"
"""On DaemonSet pods and revisions: the revision's hash (pods of StatefulSets: its name)."""
STATEFULSET_HASH_LABEL = "controller.kubernetes.io/hash"
"""On StatefulSet revisions: the revision's hash."""
CHANGE_CAUSE = "kubernetes.io/change-cause"


def revision_data(owner: Mapping[str, Any]) -> dict[str, Any]:
    """The patch that restores `owner`'s pod template."""
    template = copy.deepcopy(dict((owner.get("spec") or {}).get("template") or {}))
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def template_of(revision: Mapping[str, Any]) -> dict[str, Any]:
    """The pod template a revision restores."""
    template = dict(((revision.get("data") or {}).get("spec") or {}).get("template") or {})
    template.pop("$patch", None)
    return template


def hash_of(owner: Mapping[str, Any], collision_count: int) -> str:
    """The revision hash: FNV-32a of the data (null and empty fields left out), safe-encoded."""
    data = orjson.dumps(rollout._pruned(revision_data(owner)), option=orjson.OPT_SORT_KEYS)
    if collision_count:
        data += str(collision_count).encode()
    return rollout.safe_encode(str(rollout.fnv32a(data)))


def matches(owner: Mapping[str, Any], revision: Mapping[str, Any]) -> bool:
    """Whether the revision stores the owner's current template (Kubernetes' Match)."""
    return bool(rollout._pruned(revision.get("data")) == rollout._pruned(revision_data(owner)))


def number(revision: Mapping[str, Any]) -> int:
    return int(revision.get("revision") or 0)


def max_revision(revisions: Iterable[Mapping[str, Any]]) -> int:
    return max((number(r) for r in revisions), default=0)


def new_revision(
    owner_rt: ResourceType,
    owner: Mapping[str, Any],
    revision: int,
    collision_count: int,
    hash_label: str,
) -> Object:
    """The ControllerRevision `<owner>-<hash>` of the owner's current template."""
    hash_ = hash_of(owner, collision_count)
    template_labels = ((owner.get("spec") or {}).get("template") or {}).get("metadata") or {}
    labels = {**(template_labels.get("labels") or {}), hash_label: hash_}
    metadata: dict[str, Any] = {
        "name": f"{meta.name_of(owner)}-{hash_}",
        "namespace": meta.namespace_of(owner),
        "labels": labels,
        "ownerReferences": [meta.owner_reference(owner_rt, owner)],
    }
    cause = meta.annotations_of(owner).get(CHANGE_CAUSE)
    if cause:
        metadata["annotations"] = {CHANGE_CAUSE: cause}
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": metadata,
        "data": revision_data(owner),
        "revision": revision,
    }


def split(
    owner: Mapping[str, Any], revisions: Iterable[Object]
) -> tuple[list[Object], list[Object]]:
    """(revisions matching the owner's template, the others)."""
    current: list[Object] = []
    old: list[Object] = []
    for revision in revisions:
        (current if matches(owner, revision) else old).append(revision)
    return current, old


def keep_current(current: list[Object]) -> tuple[Object, list[Object]]:
    """Of duplicates of the current revision: the highest-numbered one, and the rest."""
    ordered = sorted(current, key=lambda r: (number(r), meta.name_of(r)))
    return ordered[-1], ordered[:-1]


def to_prune(old: list[Object], limit: int, live: set[str]) -> list[Object]:
    """Old revisions beyond `limit`, oldest first, never one that live pods still run
    (`live`: revision names)."""
    excess = len(old) - max(0, limit)
    if excess <= 0:
        return []
    doomed = []
    for revision in sorted(old, key=number):
        if excess <= 0:
            break
        if meta.name_of(revision) in live:
            continue
        doomed.append(revision)
        excess -= 1
    return doomed
