"""`minikctl rollout` for DaemonSets and StatefulSets, as kubectl does it: status viewers over
their status fields (pure), history from the ControllerRevisions they own, and undo by
re-applying a revision's data as a strategic merge patch."""

from __future__ import annotations

from minik8s.api import meta, selectors
from minik8s.api.meta import Object
from minik8s.api.resources import CONTROLLERREVISIONS, DAEMONSETS, ResourceType
from minik8s.cli.minikctl import errors
from minik8s.client.api import ApiClient

CHANGE_CAUSE = "kubernetes.io/change-cause"
ONLY_ROLLING = "rollout status is only available for RollingUpdate strategy type"


def _strategy(obj: Object) -> Object:
    return (obj.get("spec") or {}).get("updateStrategy") or {}


def daemonset_status(ds: Object) -> tuple[str, bool]:
    """kubectl's DaemonSetStatusViewer: (message, done)."""
    if (_strategy(ds).get("type") or "RollingUpdate") != "RollingUpdate":
        raise errors.CliError(ONLY_ROLLING)
    name, status = meta.name_of(ds), ds.get("status") or {}
    if meta.generation_of(ds) > int(status.get("observedGeneration") or 0):
        return "Waiting for daemon set spec update to be observed...", False
    desired = int(status.get("desiredNumberScheduled") or 0)
    updated = int(status.get("updatedNumberScheduled") or 0)
    available = int(status.get("numberAvailable") or 0)
    prefix = f'Waiting for daemon set "{name}" rollout to finish: '
    if updated < desired:
        return f"{prefix}{updated} out of {desired} new pods have been updated...", False
    if available < desired:
        return f"{prefix}{available} of {desired} updated pods are available...", False
    return f'daemon set "{name}" successfully rolled out', True


def statefulset_status(sts: Object) -> tuple[str, bool]:
    """kubectl's StatefulSetStatusViewer: (message, done)."""
    strategy = _strategy(sts)
    if (strategy.get("type") or "RollingUpdate") != "RollingUpdate":
        raise errors.CliError(ONLY_ROLLING)
    status = sts.get("status") or {}
    observed = int(status.get("observedGeneration") or 0)
    if observed == 0 or meta.generation_of(sts) > observed:
        return "Waiting for statefulset spec update to be observed...", False
    replicas = (sts.get("spec") or {}).get("replicas")
    replicas = 1 if replicas is None else int(replicas)
    ready = int(status.get("readyReplicas") or 0)
    if ready < replicas:
        return f"Waiting for {replicas - ready} pods to be ready...", False
    updated = int(status.get("updatedReplicas") or 0)
    partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
    if partition > 0:
        if updated < replicas - partition:
            return (f"Waiting for partitioned roll out to finish: {updated} out of "
                    f"{replicas - partition} new pods have been updated..."), False  # fmt: skip
        return f"partitioned roll out complete: {updated} new pods have been updated...", True
    if status.get("updateRevision") != status.get("currentRevision"):
        return (f"waiting for statefulset rolling update to complete {updated} pods at "
                f"revision {status.get('updateRevision')}..."), False  # fmt: skip
    current = int(status.get("currentReplicas") or 0)
    return (f"statefulset rolling update complete {current} pods at revision "
            f"{status.get('currentRevision')}..."), True  # fmt: skip


def status_of(rt: ResourceType, obj: Object) -> tuple[str, bool]:
    return daemonset_status(obj) if rt is DAEMONSETS else statefulset_status(obj)


async def revisions(client: ApiClient, owner: Object) -> list[Object]:
    """The ControllerRevisions `owner` controls, oldest revision first."""
    selector = str(selectors.label_selector_from_object((owner.get("spec") or {}).get("selector")))
    listed = await client.list_all(CONTROLLERREVISIONS, meta.namespace_of(owner),
                                   label_selector=selector or None)  # fmt: skip
    owned = [r for r in listed.get("items") or [] if meta.is_controlled_by(r, owner)]
    return sorted(owned, key=lambda r: int(r.get("revision") or 0))


def history_lines(owned: list[Object]) -> list[str]:
    lines = ["REVISION\tCHANGE-CAUSE"]
    for revision in owned:
        cause = meta.annotations_of(revision).get(CHANGE_CAUSE) or "<none>"
        lines.append(f"{revision.get('revision', 0)}\t{cause}")
    return lines


def undo_revision(owned: list[Object], to_revision: int) -> Object:
    """The revision to roll back to: `to_revision`, or the one before the latest."""
    if to_revision:
        for revision in owned:
            if int(revision.get("revision") or 0) == to_revision:
                return revision
        raise errors.CliError(f"unable to find specified revision {to_revision} in history")
    if len(owned) <= 1:
        raise errors.CliError("no last revision to roll back to")
    return owned[-2]
