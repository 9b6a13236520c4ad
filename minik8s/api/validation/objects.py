"""The entry points of validation: whole objects on create, update and their subresources.

Each check returns a list of `Cause`s (empty when the object is valid) that the apiserver turns
into a 422 `Invalid` Status. Objects are first checked for shape and types against the pydantic
models; only a well-typed object gets the semantic checks, as Kubernetes decodes before it
validates. Validation works both before and after `defaults.apply_defaults`: an absent field is
never an error when defaulting would fill it.
"""

from __future__ import annotations

from collections.abc import Callable

from minik8s.api import resources as rt
from minik8s.api.errors import Cause
from minik8s.api.meta import Object
from minik8s.api.models import MODELS
from minik8s.api.validation import apps as apps
from minik8s.api.validation import autoscaling as autoscaling
from minik8s.api.validation import batch as batch
from minik8s.api.validation import certificates as certificates
from minik8s.api.validation import core as core
from minik8s.api.validation import discovery as discovery
from minik8s.api.validation import formats as fmt
from minik8s.api.validation import meta as meta
from minik8s.api.validation import pod as pod
from minik8s.api.validation import policy as policy
from minik8s.api.validation import rbac as rbac
from minik8s.api.validation import secret as secret
from minik8s.api.validation import service as service
from minik8s.api.validation import workloads as workloads


def validate_create(resource: rt.ResourceType, obj: Object) -> list[Cause]:
    """Everything wrong with `obj` as a new object of type `resource`."""
    causes = _validate_shape(resource, obj) or _validate_semantics(resource, obj)
    if resource is rt.PODS:
        causes += pod.validate_pod_create(_spec(obj))
    return causes


def validate_update(resource: rt.ResourceType, new: Object, old: Object) -> list[Cause]:
    """The create checks on `new`, plus what may not change from `old`."""
    shape_causes = _validate_shape(resource, new)
    if shape_causes:
        return shape_causes
    causes = _validate_semantics(resource, new)
    causes += meta.validate_object_meta_update(
        meta.mapping(new, "metadata"), meta.mapping(old, "metadata")
    )
    check = _UPDATE_CHECKS.get(resource.kind)
    if check is not None:
        causes += check(new, old)
    return causes


def validate_ephemeral_containers_update(new: Object, old: Object) -> list[Cause]:
    """A write to `pods/<name>/ephemeralcontainers`."""
    return _validate_shape(rt.PODS, new) or meta.validate_object_meta_update(
        meta.mapping(new, "metadata"), meta.mapping(old, "metadata")
    ) + pod.validate_ephemeral_containers_update(new, old)


def validate_status_update(
    resource: rt.ResourceType, new: Object, old: Object, subresource: str = "status"
) -> list[Cause]:
    """A PUT to `<name>/status` (or a CSR's `approval`): well-typed, the object's identity
    unchanged, and the status checks of kinds that have them."""
    causes = _validate_shape(resource, new) or meta.validate_object_meta_update(
        meta.mapping(new, "metadata"), meta.mapping(old, "metadata")
    )
    if not causes and resource is rt.CERTIFICATESIGNINGREQUESTS:
        causes = certificates.validate_csr(new) + certificates.validate_csr_update(
            new, old, subresource
        )
    check = _STATUS_CHECKS.get(resource.kind)
    if not causes and check is not None:
        causes = check(new)
    return causes


def validate_binding(binding: Object) -> list[Cause]:
    """A Binding POSTed to `pods/<name>/binding`."""
    return meta.model_causes(MODELS["Binding"], binding) or core.validate_binding(binding)


def validate_scale(scale: Object) -> list[Cause]:
    """A Scale PUT to `deployments/<name>/scale` or `replicasets/<name>/scale`."""
    return meta.model_causes(MODELS["Scale"], scale) or apps.validate_scale(scale)


def validate_eviction(eviction: Object) -> list[Cause]:
    """An Eviction POSTed to `pods/<name>/eviction`."""
    return meta.model_causes(MODELS["Eviction"], eviction) or policy.validate_eviction(eviction)


def _validate_shape(resource: rt.ResourceType, obj: Object) -> list[Cause]:
    if not isinstance(obj, dict):
        return [meta.invalid("", obj, "must be an object")]
    model = MODELS.get(resource.kind)
    return meta.model_causes(model, obj) if model is not None else []


def _validate_semantics(resource: rt.ResourceType, obj: Object) -> list[Cause]:
    name_fn = _NAME_FORMATS.get(resource.kind, fmt.name_is_dns_subdomain)
    causes = meta.validate_object_meta(meta.mapping(obj, "metadata"), resource.namespaced, name_fn)
    check = _SEMANTIC_CHECKS.get(resource.kind)
    if check is not None:
        causes += check(obj)
    return causes


def _spec(obj: Object) -> Object:
    return meta.mapping(obj, "spec")


_NAME_FORMATS: dict[str, meta.NameValidator] = {
    rt.NAMESPACES.kind: fmt.name_is_dns_label,
    rt.SERVICES.kind: fmt.name_is_dns1035_label,
    rt.ROLES.kind: rbac.name_is_path_segment,
    rt.CLUSTERROLES.kind: rbac.name_is_path_segment,
    rt.ROLEBINDINGS.kind: rbac.name_is_path_segment,
    rt.CLUSTERROLEBINDINGS.kind: rbac.name_is_path_segment,
    rt.APISERVICES.kind: lambda name, prefix: [],  # `<version>.<group>`: checked by its kind
}

_SEMANTIC_CHECKS: dict[str, Callable[[Object], list[Cause]]] = {
    rt.PODS.kind: lambda obj: pod.validate_pod_spec(_spec(obj), "spec"),
    rt.SERVICES.kind: service.validate_service,
    rt.ENDPOINTS.kind: service.validate_endpoints,
    rt.ENDPOINTSLICES.kind: discovery.validate_endpoint_slice,
    rt.NODES.kind: lambda obj: core.validate_node_spec(_spec(obj)),
    rt.NAMESPACES.kind: core.validate_namespace,
    rt.CONFIGMAPS.kind: core.validate_config_map,
    rt.SECRETS.kind: secret.validate_secret,
    rt.EVENTS.kind: core.validate_event,
    rt.LEASES.kind: core.validate_lease,
    rt.REPLICASETS.kind: lambda obj: apps.validate_replica_set_spec(_spec(obj)),
    rt.DEPLOYMENTS.kind: lambda obj: apps.validate_deployment_spec(_spec(obj)),
    rt.JOBS.kind: batch.validate_job,
    rt.CRONJOBS.kind: batch.validate_cronjob,
    rt.REPLICATIONCONTROLLERS.kind: batch.validate_replication_controller,
    rt.PODDISRUPTIONBUDGETS.kind: policy.validate_pdb,
    rt.CERTIFICATESIGNINGREQUESTS.kind: certificates.validate_csr,
    **workloads.SEMANTIC_CHECKS,
    rt.ROLES.kind: rbac.validate_role,
    rt.CLUSTERROLES.kind: rbac.validate_cluster_role,
    rt.ROLEBINDINGS.kind: rbac.validate_role_binding,
    rt.CLUSTERROLEBINDINGS.kind: rbac.validate_cluster_role_binding,
    **autoscaling.SEMANTIC_CHECKS,
}

_STATUS_CHECKS: dict[str, Callable[[Object], list[Cause]]] = {
    rt.SERVICES.kind: service.validate_service_status,
}

_UPDATE_CHECKS: dict[str, Callable[[Object, Object], list[Cause]]] = {
    rt.PODS.kind: pod.validate_pod_update,
    rt.SERVICES.kind: service.validate_service_update,
    rt.ENDPOINTSLICES.kind: discovery.validate_endpoint_slice_update,
    rt.NODES.kind: core.validate_node_update,
    rt.SECRETS.kind: secret.validate_secret_update,
    rt.REPLICASETS.kind: apps.validate_selector_update,
    rt.DEPLOYMENTS.kind: apps.validate_selector_update,
    rt.JOBS.kind: batch.validate_job_update,
    rt.CERTIFICATESIGNINGREQUESTS.kind: certificates.validate_csr_update,
    **workloads.UPDATE_CHECKS,
    rt.ROLEBINDINGS.kind: rbac.validate_binding_update,
    rt.CLUSTERROLEBINDINGS.kind: rbac.validate_binding_update,
}
