"""The PodSecurity admission plugin, as Kubernetes' (enforce, audit and warn per namespace).

- Pods (create, and updates that change an image): the namespace's `enforce` level refuses
  with 403 `pods "x" is forbidden: violates PodSecurity "baseline:latest": host namespaces
  (hostNetwork=true)`; its `warn` level adds `would violate PodSecurity …` Warning headers.
- Workloads with a pod template (Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs,
  CronJobs, ReplicationControllers, PodTemplates): warnings only, as upstream: the pods they
  create are refused when they are created.
- Namespaces: invalid `pod-security.kubernetes.io/*` labels are a 422; making `enforce`
  stricter warns about the existing pods that would violate it.
- Exemptions (namespaces, runtime classes, users) and cluster-wide defaults come from the
  PodSecurity plugin's configuration (`--admission-control-config-file`); without one every
  unlabelled namespace is privileged, as in Kubernetes.

Also the apiserver's `--allow-privileged` (false by default, as kube-apiserver's): a
privileged container anywhere is a 422 `Forbidden: disallowed by cluster policy`.

`audit` is evaluated but only logged: minik8s has no audit log for its annotations.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from minik8s.api import errors
from minik8s.api.errors import Cause
from minik8s.api.meta import Object, controller_ref, labels_of, name_of
from minik8s.api.resources import NAMESPACES, PODS, ResourceType
from minik8s.apiserver import warning
from minik8s.apiserver.admission import CREATE, UPDATE, Request
from minik8s.apiserver.podsecurity import checks
from minik8s.apiserver.podsecurity.levels import Level, LevelVersion, Policy, policy_to_evaluate

logger = logging.getLogger(__name__)

TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "pods": (),
    "podtemplates": ("template",),
    "replicationcontrollers": ("spec", "template"),
    "replicasets": ("spec", "template"),
    "deployments": ("spec", "template"),
    "statefulsets": ("spec", "template"),
    "daemonsets": ("spec", "template"),
    "jobs": ("spec", "template"),
    "cronjobs": ("spec", "jobTemplate", "spec", "template"),
}
"""Where each kind keeps the pod (template) it is checked by."""
IGNORED_POD_SUBRESOURCES = frozenset(
    {"exec", "attach", "binding", "eviction", "log", "portforward", "proxy", "status"}
)
MAX_PODS_TO_CHECK = 3000


@dataclass(frozen=True)
class Exemptions:
    usernames: frozenset[str] = frozenset()
    runtime_classes: frozenset[str] = frozenset()
    namespaces: frozenset[str] = frozenset()


@dataclass
class PodSecurity:
    """Looks namespaces (and, for namespace updates, their pods) up in the watch cache."""

    namespace: Callable[[str], Object | None]
    pods: Callable[[str], Iterable[Object]] = lambda namespace: ()
    defaults: Policy = field(default_factory=Policy)
    exemptions: Exemptions = field(default_factory=Exemptions)
    allow_privileged: bool = False
    evaluator: checks.Evaluator = field(default_factory=checks.Evaluator)
    resources: frozenset[str] = frozenset({*TEMPLATE_PATHS, NAMESPACES.plural})

    def validate(self, request: Request) -> None:
        """Raise an ApiError to refuse; add Warning headers for what would be refused."""
        if request.resource.plural not in self.resources or request.operation not in (
            CREATE,
            UPDATE,
        ):
            return
        if request.resource is NAMESPACES:
            if request.subresource is None:
                self._namespace(request.operation, request.obj, request.old)
            return
        if request.subresource in IGNORED_POD_SUBRESOURCES or (
            request.subresource and request.resource is not PODS
        ):
            return
        extracted = pod_of(request.resource, request.obj)
        if extracted is None:
            return
        meta, spec, path = extracted
        self._allow_privileged(request.resource, request.obj, spec, path)
        namespace = str((request.obj.get("metadata") or {}).get("namespace") or "")
        if (
            namespace in self.exemptions.namespaces
            or _username(request.user) in self.exemptions.usernames
        ):
            return
        if spec.get("runtimeClassName") in self.exemptions.runtime_classes:
            return
        if request.resource is PODS and request.operation == UPDATE and request.old is not None:
            if not significant_update(request.obj, request.old):
                return
        policy, label_errors = policy_to_evaluate(self._labels(namespace), self.defaults)
        if label_errors:
            logger.info(
                "namespace %s: invalid PodSecurity labels; evaluating %s", namespace, policy
            )
        if request.resource is PODS:
            failed = self._evaluate(policy.enforce, meta, spec)
            if failed:
                raise errors.Forbidden(
                    f'pods "{name_of(request.obj)}" is forbidden: violates PodSecurity '
                    f'"{policy.enforce}": {checks.forbidden_detail(failed)}',
                    kind="pods",
                    name=name_of(request.obj),
                )
        audit = self._evaluate(policy.audit, meta, spec)
        if audit:
            logger.info(
                "%s %s/%s would violate PodSecurity %q: %s",
                request.resource.plural,
                namespace,
                name_of(request.obj),
                str(policy.audit),
                checks.forbidden_detail(audit),
            )
        warned = self._evaluate(policy.warn, meta, spec)
        if warned:
            warning.add(
                f'would violate PodSecurity "{policy.warn}": {checks.forbidden_detail(warned)}'
            )

    # --- pieces -----------------------------------------------------------------------------

    def _labels(self, namespace: str) -> dict[str, str]:
        found = self.namespace(namespace)
        return dict(labels_of(found)) if found is not None else {}

    def _evaluate(self, lv: LevelVersion, meta: Object, spec: Object) -> list[checks.Result]:
        return self.evaluator.evaluate(lv.level, lv.version, meta, spec)

    def _namespace(self, operation: str, obj: Object, old: Object | None) -> None:
        new_policy, causes = policy_to_evaluate(dict(labels_of(obj)), self.defaults)
        if causes:
            old_causes = policy_to_evaluate(dict(labels_of(old)), self.defaults)[1] if old else []
            if operation == CREATE or not old_causes or old_causes != causes:
                raise errors.invalid_object("Namespace", name_of(obj), causes)
        if operation != UPDATE or old is None or name_of(obj) in self.exemptions.namespaces:
            return
        old_policy, _ = policy_to_evaluate(dict(labels_of(old)), self.defaults)
        new, previous = new_policy.enforce, old_policy.enforce
        if new == previous or new.level is Level.PRIVILEGED:
            return
        if new.version == previous.version and new.level.strictness <= previous.level.strictness:
            return
        for line in self.existing_pod_warnings(name_of(obj), new):
            warning.add(line)

    def existing_pod_warnings(self, namespace: str, enforce: LevelVersion) -> list[str]:
        """Upstream's EvaluatePodsInNamespace: one line per distinct violation, naming a pod
        (and how many others), pods of one controller checked once before the rest."""
        pods = prioritize(list(self.pods(namespace)))
        total = len(pods)
        pods = pods[:MAX_PODS_TO_CHECK]
        counts: dict[str, list[Any]] = {}
        order: list[str] = []
        for pod in pods:
            failed = self._evaluate(enforce, pod.get("metadata") or {}, pod.get("spec") or {})
            if not failed:
                continue
            reason = checks.forbidden_reason(failed)
            if reason not in counts:
                counts[reason] = [name_of(pod), 0]
                order.append(reason)
            entry = counts[reason]
            entry[0] = min(entry[0], name_of(pod))
            entry[1] += 1
        warnings = []
        if len(pods) < total:
            warnings.append(
                f"new PodSecurity enforce level only checked against the first "
                f"{len(pods)} of {total} existing pods"
            )
        if order:
            warnings.append(
                f'existing pods in namespace "{namespace}" violate the new '
                f'PodSecurity enforce level "{enforce}"'
            )
        lines = []
        for reason in order:
            pod_name, count = counts[reason]
            others = (
                ""
                if count == 1
                else " (and 1 other pod)"
                if count == 2
                else f" (and {count - 1} other pods)"
            )
            lines.append(f"{pod_name}{others}: {reason}")
        return warnings + sorted(lines)

    def _allow_privileged(
        self, resource: ResourceType, obj: Object, spec: Object, path: tuple[str, ...]
    ) -> None:
        if self.allow_privileged:
            return
        causes: list[Cause] = []
        base = ".".join((*path, "spec")) if path else "spec"
        for group in ("initContainers", "containers", "ephemeralContainers"):
            for i, container in enumerate(spec.get(group) or []):
                context = container.get("securityContext") if isinstance(container, dict) else None
                if isinstance(context, dict) and context.get("privileged") is True:
                    causes.append(
                        errors.forbidden(
                            f"{base}.{group}[{i}].securityContext.privileged",
                            "disallowed by cluster policy",
                        )
                    )
        if causes:
            raise errors.invalid_object(resource.kind, name_of(obj), causes, resource.group)


def pod_of(resource: ResourceType, obj: Object) -> tuple[Object, Object, tuple[str, ...]] | None:
    """(pod metadata, pod spec, the path to the pod template) of an object, None without."""
    path = TEMPLATE_PATHS.get(resource.plural)
    if path is None:
        return None
    template: Any = obj
    for step in path:
        template = template.get(step) if isinstance(template, dict) else None
    if not isinstance(template, dict):
        return None
    spec = template.get("spec")
    meta = template.get("metadata")
    return (meta if isinstance(meta, dict) else {}), (spec if isinstance(spec, dict) else {}), path


def significant_update(new: Object, old: Object) -> bool:
    """Upstream's isSignificantPodUpdate: only image changes (and container count changes)
    re-check a running pod; labels, annotations and the rest never make it violate."""
    new_spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    for group in ("containers", "initContainers"):
        new_list, old_list = new_spec.get(group) or [], old_spec.get(group) or []
        if len(new_list) != len(old_list):
            return True
        if any(a.get("image") != b.get("image") for a, b in zip(new_list, old_list, strict=True)):
            return True
    old_ephemeral = {c.get("name"): c for c in old_spec.get("ephemeralContainers") or []}
    for container in new_spec.get("ephemeralContainers") or []:
        previous = old_ephemeral.get(container.get("name"))
        if previous is None or previous.get("image") != container.get("image"):
            return True
    return False


def prioritize(pods: list[Object]) -> list[Object]:
    """One pod per controller first, then the other pods of the same controllers."""
    first, rest, seen = [], [], set()
    for pod in pods:
        owner = controller_ref(pod)
        uid = owner.get("uid") if owner else None
        if uid is None or uid not in seen:
            first.append(pod)
            if uid is not None:
                seen.add(uid)
        else:
            rest.append(pod)
    return first + rest


def _username(user: Any) -> str:
    return str(getattr(user, "name", "") or getattr(user, "username", "") or "")
