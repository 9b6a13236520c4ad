"""Pydantic models of the API kinds, for validation and typed access by components.

The apiserver stores the original dicts, so unknown fields survive; models are never needed to
round-trip an object. `MODELS` maps a kind to its model.
"""

from __future__ import annotations

from pydantic import BaseModel

from minik8s.api.models import (
    apiregistration,
    apps,
    autoscaling,
    batch,
    certificates,
    coordination,
    core,
    discovery,
    events,
    meta,
    metrics,
    policy,
    rbac,
    reviews,
    serviceaccount,
    storage,
)

MODELS: dict[str, type[BaseModel]] = {
    "Pod": core.Pod,
    "Node": core.Node,
    "Service": core.Service,
    "Endpoints": core.Endpoints,
    "EndpointSlice": discovery.EndpointSlice,
    "Namespace": core.Namespace,
    "Event": core.Event,
    "ConfigMap": core.ConfigMap,
    "Secret": serviceaccount.Secret,
    "ServiceAccount": serviceaccount.ServiceAccount,
    "TokenRequest": serviceaccount.TokenRequest,
    "Binding": core.Binding,
    "ReplicaSet": apps.ReplicaSet,
    "Deployment": apps.Deployment,
    "Scale": apps.Scale,
    "Lease": coordination.Lease,
    "CertificateSigningRequest": certificates.CertificateSigningRequest,
    "ReplicationController": batch.ReplicationController,
    "Job": batch.Job,
    "CronJob": batch.CronJob,
    "PodDisruptionBudget": policy.PodDisruptionBudget,
    "Eviction": policy.Eviction,
    "DaemonSet": apps.DaemonSet,
    "StatefulSet": apps.StatefulSet,
    "ControllerRevision": apps.ControllerRevision,
    "PersistentVolume": storage.PersistentVolume,
    "PersistentVolumeClaim": storage.PersistentVolumeClaim,
    "StorageClass": storage.StorageClass,
    "Role": rbac.Role,
    "ClusterRole": rbac.ClusterRole,
    "RoleBinding": rbac.RoleBinding,
    "ClusterRoleBinding": rbac.ClusterRoleBinding,
    "TokenReview": reviews.TokenReview,
    "SelfSubjectReview": reviews.SelfSubjectReview,
    "SubjectAccessReview": reviews.SubjectAccessReview,
    "SelfSubjectAccessReview": reviews.SelfSubjectAccessReview,
    "LocalSubjectAccessReview": reviews.LocalSubjectAccessReview,
    "SelfSubjectRulesReview": reviews.SelfSubjectRulesReview,
    "HorizontalPodAutoscaler": autoscaling.HorizontalPodAutoscaler,
    "APIService": apiregistration.APIService,
}

VERSIONED_MODELS: dict[tuple[str, str], type[BaseModel]] = {
    ("autoscaling/v1", "HorizontalPodAutoscaler"): autoscaling.HorizontalPodAutoscalerV1,
    ("events.k8s.io/v1", "Event"): events.Event,
    ("metrics.k8s.io/v1beta1", "NodeMetrics"): metrics.NodeMetrics,
    ("metrics.k8s.io/v1beta1", "PodMetrics"): metrics.PodMetrics,
}
"""Models of the other served versions of a kind (`MODELS` holds the stored version's) and
of kinds served by extension servers: what the OpenAPI documents describe."""


def model_for(api_version: str, kind: str) -> type[BaseModel] | None:
    return VERSIONED_MODELS.get((api_version, kind)) or MODELS.get(kind)


__all__ = [
    "MODELS",
    "VERSIONED_MODELS",
    "apiregistration",
    "apps",
    "autoscaling",
    "batch",
    "certificates",
    "coordination",
    "core",
    "events",
    "meta",
    "metrics",
    "model_for",
    "policy",
    "rbac",
    "reviews",
    "serviceaccount",
    "storage",
]
