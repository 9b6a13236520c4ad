"""Rolling a Deployment back (`kubectl rollout undo`): pure, shared by minikctl and the
dashboard. The revision of a ReplicaSet is its `deployment.kubernetes.io/revision`."""

from __future__ import annotations

from minik8s.api.meta import Object

REVISION = "deployment.kubernetes.io/revision"


def revision_of(rs: Object) -> int:
    try:
        return int(((rs.get("metadata") or {}).get("annotations") or {}).get(REVISION, 0))
    except ValueError:
        return 0


def undo_template(replicasets: list[Object], current: int, to_revision: int) -> Object | None:
    """The template of `to_revision` (0: the one before `current`), without pod-template-hash."""
    candidates = sorted((rs for rs in replicasets if revision_of(rs) != current), key=revision_of)
    if to_revision:
        candidates = [rs for rs in candidates if revision_of(rs) == to_revision]
    if not candidates:
        return None
    template = dict((candidates[-1].get("spec") or {}).get("template") or {})
    meta = dict(template.get("metadata") or {})
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != "pod-template-hash"}
    template["metadata"] = {**meta, "labels": labels}
    return template
