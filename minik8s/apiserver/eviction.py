"""`POST pods/<name>/eviction`: delete a pod unless a PodDisruptionBudget forbids it.

Kubernetes' eviction REST (pkg/registry/core/pod/storage/eviction.go): a pod that is not
running yet, already finished or already terminating goes at once; otherwise the one budget
selecting it must allow a disruption, which the eviction takes by decrementing
`status.disruptionsAllowed` and recording the pod in `status.disruptedPods` (a
compare-and-swap on the budget), before the pod is deleted. A budget that forbids it answers
429 with Kubernetes' message; `kubectl drain` retries those. The pod gets the
`DisruptionTarget` condition (EvictionByEvictionAPI) before it is deleted, so its kubelet's
final status and its Job's pod failure policy see why it went.
"""

from __future__ import annotations

from typing import Any

from minik8s.api import errors, meta, podutil, selectors, times, validation
from minik8s.api.errors import Cause
from minik8s.api.meta import Object
from minik8s.api.resources import PODDISRUPTIONBUDGETS, PODS
from minik8s.apiserver.registry import DeleteOptions, Registry

EVICTION_API_VERSIONS = ("policy/v1", "policy/v1beta1")
DISRUPTION_BUDGET_CAUSE = "DisruptionBudget"
MAX_DISRUPTED_PODS = 2000
"""At most this many evictions the disruption controller has not confirmed yet."""
VIOLATES = "Cannot evict pod as it would violate the pod's disruption budget."
EVICTION_REASON = "EvictionByEvictionAPI"
EVICTION_MESSAGE = "Eviction API: evicting"


async def evict(registry: Registry, namespace: str, name: str, body: Any) -> Object:
    """Evict pod `namespace/name` as `body` (an Eviction) asks; the Success Status."""
    eviction = _check_eviction(body, namespace, name)
    options = _delete_options(eviction)
    pod = await registry.get(PODS, namespace, name)
    if not _can_ignore_budget(pod):
        budget = _budget_for(registry, pod)
        if budget is not None and not options.dry_run:
            await _take_disruption(registry, budget, pod)
    if not options.dry_run:
        await _add_disruption_target(registry, namespace, name, options)
    await registry.delete(PODS, namespace, name, options)
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "code": 201}  # fmt: skip


async def _add_disruption_target(
    registry: Registry, namespace: str, name: str, options: DeleteOptions
) -> None:
    """Kubernetes' addConditionAndDeletePod: the condition on the latest pod (the delete's
    preconditions checked first), then the delete."""

    def mark(pod: Object) -> Object:
        if options.precondition_uid and options.precondition_uid != meta.uid_of(pod):
            raise errors.Conflict(
                f'Operation cannot be fulfilled on Pod "{name}": Precondition failed: '
                f"UID in precondition: {options.precondition_uid}, UID in object meta: "
                f"{meta.uid_of(pod)}"
            )
        pod["status"] = podutil.with_disruption_target(
            pod.get("status") or {}, EVICTION_REASON, EVICTION_MESSAGE
        )
        return pod

    await registry.guaranteed_update(PODS, namespace, name, mark)


def _check_eviction(body: Any, namespace: str, name: str) -> Object:
    if not isinstance(body, dict):
        raise errors.BadRequest("the body of the request must be an Eviction object")
    kind, api_version = body.get("kind"), body.get("apiVersion")
    if kind not in (None, "Eviction") or api_version not in (None, *EVICTION_API_VERSIONS):
        raise errors.BadRequest(
            f"the kind in the data ({kind}) does not match the expected kind (Eviction)"
        )
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise errors.BadRequest("metadata must be an object")
    if metadata.get("name") not in (None, "", name):
        raise errors.BadRequest("name in URL does not match name in Eviction object")
    if metadata.get("namespace") not in (None, "", namespace):
        raise errors.BadRequest(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    causes = validation.validate_eviction(body)
    if causes:
        raise errors.invalid_object("Eviction", name, causes, "policy")
    return body


def _delete_options(eviction: Object) -> DeleteOptions:
    options = eviction.get("deleteOptions") or {}
    preconditions = options.get("preconditions") or {}
    policy = options.get("propagationPolicy")
    if options.get("orphanDependents") is True:
        policy = policy or "Orphan"
    return DeleteOptions(
        grace_period_seconds=options.get("gracePeriodSeconds"),
        propagation_policy=policy,
        precondition_uid=preconditions.get("uid"),
        precondition_resource_version=preconditions.get("resourceVersion"),
        dry_run=options.get("dryRun") == ["All"],
    )


def _can_ignore_budget(pod: Object) -> bool:
    """Pods not counted by any budget: pending, finished or already terminating."""
    phase = podutil.pod_phase(pod)
    return phase in ("Pending", "Succeeded", "Failed") or meta.is_deleting(pod)


def _budget_for(registry: Registry, pod: Object) -> Object | None:
    """The one budget selecting `pod` (None when none; 500 when several, as Kubernetes)."""
    labels = meta.labels_of(pod)
    matching = []
    for budget in registry.cache.cache(PODDISRUPTIONBUDGETS).snapshot(meta.namespace_of(pod)):
        try:
            selector = selectors.label_selector_from_object(
                (budget.get("spec") or {}).get("selector")
            )
        except selectors.InvalidSelector:
            continue
        if selector.matches(labels):
            matching.append(budget)
    if len(matching) > 1:
        raise errors.InternalError(
            "This pod has more than one PodDisruptionBudget, which the eviction subresource "
            "does not support."
        )
    return matching[0] if matching else None


async def _take_disruption(registry: Registry, budget: Object, pod: Object) -> None:
    pod_name = meta.name_of(pod)

    def take(current: Object) -> Object | None:
        status = current.setdefault("status", {})
        allowed = int(status.get("disruptionsAllowed") or 0)
        healthy = int(status.get("currentHealthy") or 0)
        desired = int(status.get("desiredHealthy") or 0)
        if not podutil.pod_is_ready(pod):
            policy = (current.get("spec") or {}).get("unhealthyPodEvictionPolicy")
            if policy == "AlwaysAllow" or (healthy >= desired and desired > 0):
                return None  # an unhealthy pod goes without spending the budget
        if int(status.get("observedGeneration") or 0) < meta.generation_of(current):
            raise _too_many_requests(
                f"The disruption budget {meta.name_of(current)} is still being processed by "
                "the server.",
                retry_after=10,
            )
        if allowed < 0:
            raise errors.Forbidden("pdb disruptions allowed is negative")
        disrupted = dict(status.get("disruptedPods") or {})
        if len(disrupted) > MAX_DISRUPTED_PODS:
            raise errors.Forbidden(
                "DisruptedPods map too big - too many evictions not confirmed by PDB controller"
            )
        if allowed == 0:
            raise _too_many_requests(
                f"The disruption budget {meta.name_of(current)} needs {desired} healthy pods "
                f"and has {healthy} currently"
            )
        status["disruptionsAllowed"] = allowed - 1
        disrupted[pod_name] = times.now_rfc3339()
        status["disruptedPods"] = disrupted
        if allowed - 1 == 0:
            conditions = meta.set_condition(
                list(status.get("conditions") or []),
                "DisruptionAllowed",
                "False",
                "InsufficientPods",
                observedGeneration=status.get("observedGeneration"),
            )
            for condition in conditions:
                condition.setdefault("message", "")
            status["conditions"] = conditions
        return current

    # `take` changes only the status, as a PUT to the budget's `status` would.
    await registry.guaranteed_update(
        PODDISRUPTIONBUDGETS, meta.namespace_of(budget), meta.name_of(budget), take
    )


def _too_many_requests(cause: str, retry_after: int | None = None) -> errors.TooManyRequests:
    return errors.TooManyRequests(
        VIOLATES,
        causes=[Cause("", cause, DISRUPTION_BUDGET_CAUSE)],
        retry_after_seconds=retry_after,
    )
