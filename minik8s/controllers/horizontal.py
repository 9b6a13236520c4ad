"""The horizontal pod autoscaler controller (kube-controller-manager's
`horizontalpodautoscaling`): every `--horizontal-pod-autoscaler-sync-period` (15 s) each
autoscaler reads its target's `scale` subresource, the pods its selector picks and their
usage from the metrics API (`metrics.k8s.io`, through the aggregation layer), computes the
replicas each metric asks for (`hpa_replicas`), stabilizes and limits them (`hpa_plan`),
rescales, and writes its status with the AbleToScale / ScalingActive / ScalingLimited
conditions and Events as Kubernetes does.

Resource metrics (cpu, memory; Utilization or AverageValue targets, per pod or per container)
are served; Pods, Object and External metrics need a custom metrics API minik8s does not have,
and say so in ScalingActive.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from minik8s.api import errors, meta, resources, selectors, times
from minik8s.api.meta import Object
from minik8s.client import cache
from minik8s.controllers import hpa_plan, hpa_replicas
from minik8s.controllers.base import Controller

logger = logging.getLogger(__name__)

HPA = resources.HORIZONTALPODAUTOSCALERS
METRICS_PATH = "/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods"
SCALABLE = {
    ("apps", "Deployment"): resources.DEPLOYMENTS,
    ("apps", "ReplicaSet"): resources.REPLICASETS,
    ("apps", "StatefulSet"): resources.STATEFULSETS,
}


class HorizontalController(Controller):
    name = "horizontalpodautoscaling"

    def register(self) -> None:
        self.hpas = self.ctx.informer(HPA)
        self.pods = self.ctx.informer(resources.PODS)
        self.hpas.add_event_handler(self.enqueue, lambda old, new: self.enqueue(new))
        self.histories: dict[str, hpa_plan.History] = {}

    def enqueue(self, obj: dict) -> None:
        self.queue.add(cache.object_key(obj))

    async def reconcile(self, key: str) -> None:
        hpa = self.hpas.store.get_by_key(key)
        if hpa is None:
            self.histories.pop(key, None)
            return
        try:
            await self._sync(key, hpa)
        finally:  # every autoscaler is looked at again each sync period
            if self.hpas.store.get_by_key(key) is not None:
                self.queue.add_after(key, self.settings.horizontal_pod_autoscaler_sync_period)

    async def _sync(self, key: str, hpa: Object) -> None:
        namespace = meta.namespace_of(hpa)
        spec, status = hpa.get("spec") or {}, dict(hpa.get("status") or {})
        conditions: list[Object] = list(status.get("conditions") or [])
        now_text = times.now_rfc3339()
        ref = spec.get("scaleTargetRef") or {}
        group = (ref.get("apiVersion") or "").rpartition("/")[0]
        target_rt = SCALABLE.get((group, ref.get("kind", "")))
        reference = f"{ref.get('kind')}/{ref.get('name')}"

        def condition(kind: str, state: str, reason: str, message: str) -> None:
            nonlocal conditions
            conditions = hpa_plan.set_condition(
                conditions, hpa_plan.Condition(kind, state, reason, message), now_text
            )

        try:
            if target_rt is None:
                raise errors.NotFound(
                    f"the server could not find the requested resource ({reference})"
                )
            scale = await self.client.get_subresource(target_rt, ref["name"], "scale", namespace)
        except errors.ApiError as e:
            message = f"the HPA controller was unable to get the target's current scale: {e}"
            condition("AbleToScale", "False", "FailedGetScale", message)
            self.recorder.record(hpa, "Warning", "FailedGetScale", str(e))
            await self._write_status(hpa, status, conditions)
            return
        condition(
            "AbleToScale", "True", "SucceededGetScale",
            "the HPA controller was able to get the target's current scale",
        )  # fmt: skip
        current = int((scale.get("spec") or {}).get("replicas") or 0)
        status["currentReplicas"] = int((scale.get("status") or {}).get("replicas") or 0)
        minimum = int(spec.get("minReplicas", 1))
        maximum = int(spec.get("maxReplicas", 1))
        desired, reason = current, ""
        if current == 0 and minimum != 0:
            desired = 0
            condition(
                "ScalingActive", "False", "ScalingDisabled",
                "scaling is disabled since the replica count of the target is zero",
            )  # fmt: skip
        elif current > maximum:
            desired, reason = maximum, "Current number of replicas above Spec.MaxReplicas"
        elif current < minimum:
            desired, reason = minimum, "Current number of replicas below Spec.MinReplicas"
        else:
            computed = await self._from_metrics(hpa, scale, current, condition, status)
            if computed is None:
                await self._write_status(hpa, status, conditions)
                return
            proposed, metric_name = computed
            history = self.histories.setdefault(key, hpa_plan.History())
            now = time.time()
            behavior = spec.get("behavior")
            window = self.settings.horizontal_pod_autoscaler_downscale_stabilization
            if behavior:
                decision = hpa_plan.normalize_with_behavior(
                    history, current, proposed, minimum, maximum, behavior, window, now
                )
            else:
                decision = hpa_plan.normalize(
                    history, current, proposed, minimum, maximum, window, now
                )
            for chosen in (decision.able_to_scale, decision.scaling_limited):
                condition(chosen.type, chosen.status, chosen.reason, chosen.message)
            desired = decision.replicas
            if desired > current:
                reason = f"{metric_name} above target"
            elif desired < current:
                reason = "All metrics below target"
        if desired != current:
            assert target_rt is not None
            try:
                await self._rescale(target_rt, namespace, ref["name"], scale, desired)
            except errors.ApiError as e:
                message = f"the HPA controller was unable to update the target scale: {e}"
                condition("AbleToScale", "False", "FailedUpdateScale", message)
                self.recorder.record(
                    hpa,
                    "Warning",
                    "FailedRescale",
                    f"New size: {desired}; reason: {reason}; error: {e}",
                )
                await self._write_status(hpa, status, conditions)
                return
            condition(
                "AbleToScale", "True", "SucceededRescale",
                f"the HPA controller was able to update the target scale to {desired}",
            )  # fmt: skip
            hpa_plan.record_scale(
                self.histories.setdefault(key, hpa_plan.History()), current, desired,
                spec.get("behavior"), time.time(),
            )  # fmt: skip
            self.recorder.record(
                hpa, "Normal", "SuccessfulRescale", f"New size: {desired}; reason: {reason}"
            )
            logger.info(
                "%s: rescaled %s from %d to %d (%s)", key, reference, current, desired, reason
            )
            status["lastScaleTime"] = now_text
        status["desiredReplicas"] = desired
        await self._write_status(hpa, status, conditions)

    async def _from_metrics(
        self, hpa: Object, scale: Object, current: int, condition: Any, status: Object
    ) -> tuple[int, str] | None:
        """The largest proposal of the metrics and the metric's name; None when none works."""
        namespace = meta.namespace_of(hpa)
        selector_text = (scale.get("status") or {}).get("selector") or ""
        pods = self._pods(namespace, selector_text)
        best: tuple[int, str] | None = None
        current_metrics: list[Object] = []
        first_error: tuple[str, str] | None = None
        timing = hpa_replicas.Timing(
            time.time(),
            self.settings.horizontal_pod_autoscaler_cpu_initialization_period,
            self.settings.horizontal_pod_autoscaler_initial_readiness_delay,
        )
        metrics_cache: dict[str, list[Object]] = {}
        for spec in (hpa.get("spec") or {}).get("metrics") or []:
            kind = spec.get("type")
            if kind not in ("Resource", "ContainerResource"):
                first_error = first_error or (
                    f"FailedGet{kind}Metric",
                    f"the HPA was unable to compute the replica count: {kind} metrics need a "
                    "custom or external metrics API, which minik8s does not serve",
                )
                continue
            field = "resource" if kind == "Resource" else "containerResource"
            source = spec.get(field) or {}
            resource, container = source.get("name", ""), source.get("container", "")
            target = source.get("target") or {}
            try:
                if "items" not in metrics_cache:
                    metrics_cache["items"] = await self._pod_metrics(namespace, selector_text)
                samples = hpa_replicas.pod_samples(metrics_cache["items"], resource, container)
                tolerance = self.settings.horizontal_pod_autoscaler_tolerance
                if target.get("type") == "Utilization":
                    proposal = hpa_replicas.resource_replicas(
                        current, int(target.get("averageUtilization") or 0), resource, pods,
                        samples, tolerance, timing, container,
                    )  # fmt: skip
                    name = f"{resource} resource utilization (percentage of request)"
                else:
                    wanted = hpa_replicas.amount(resource, target.get("averageValue") or 0)
                    proposal = hpa_replicas.raw_resource_replicas(
                        current, wanted, resource, pods, samples, tolerance, timing
                    )
                    name = f"{resource} resource"
            except (hpa_replicas.MetricError, errors.ApiError) as e:
                first_error = first_error or (
                    f"FailedGet{kind}Metric",
                    f"the HPA was unable to compute the replica count: {e}",
                )
                self.recorder.record(hpa, "Warning", f"FailedGet{kind}Metric", str(e))
                continue
            current_metrics.append(_metric_status(kind, field, resource, container, proposal))
            if best is None or proposal.replicas > best[0]:
                best = (proposal.replicas, name)
        status["currentMetrics"] = current_metrics or None
        if best is None:
            reason, message = first_error or ("FailedGetResourceMetric", "no metrics to scale on")
            condition("ScalingActive", "False", reason, message)
            self.recorder.record(hpa, "Warning", "FailedComputeMetricsReplicas", message)
            return None
        condition(
            "ScalingActive", "True", "ValidMetricFound",
            f"the HPA was able to successfully calculate a replica count from {best[1]}",
        )  # fmt: skip
        return best

    def _pods(self, namespace: str, selector_text: str) -> list[Object]:
        selector = selectors.parse_label_selector(selector_text) if selector_text else None
        return [
            p
            for p in self.pods.store.list()
            if meta.namespace_of(p) == namespace
            and selector is not None
            and selector.matches(meta.labels_of(p))
        ]

    async def _pod_metrics(self, namespace: str, selector_text: str) -> list[Object]:
        result = await self.client.request(
            "GET",
            METRICS_PATH.format(namespace=namespace),
            params={"labelSelector": selector_text} if selector_text else None,
        )
        if not isinstance(result, dict):
            raise hpa_replicas.MetricError(
                f"unexpected answer from the metrics API: {result!r:.80}"
            )
        return list(result.get("items") or [])

    async def _rescale(
        self, rt: resources.ResourceType, namespace: str, name: str, scale: Object, replicas: int
    ) -> None:
        body = {**scale, "spec": {**(scale.get("spec") or {}), "replicas": replicas}}
        path = rt.object_path(namespace, name) + "/scale"
        await self.client.request("PUT", path, json=body)

    async def _write_status(self, hpa: Object, status: Object, conditions: list[Object]) -> None:
        new_status = {k: v for k, v in status.items() if v is not None}
        new_status["conditions"] = conditions
        new_status["observedGeneration"] = meta.meta(hpa).get("generation")
        if new_status == hpa.get("status"):
            return
        updated = {**hpa, "status": new_status}
        try:
            await self.client.update_status(HPA, updated)
        except errors.Conflict:
            self.queue.add(cache.object_key(hpa))  # changed meanwhile: look again soon


def _metric_status(
    kind: str, field: str, resource: str, container: str, proposal: hpa_replicas.Proposal
) -> Object:
    current: Object = {
        "averageValue": _quantity(resource, proposal.average),
    }
    if proposal.utilization is not None:
        current["averageUtilization"] = proposal.utilization
    body: Object = {"name": resource, "current": current}
    if container:
        body["container"] = container
    return {"type": kind, field: body}


def _quantity(resource: str, value: int) -> str:
    return f"{value}m" if resource == "cpu" else str(value)
