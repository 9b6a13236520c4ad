"""rbac.authorization.k8s.io/v1: Role, ClusterRole, RoleBinding, ClusterRoleBinding."""

from __future__ import annotations

from pydantic import Field

from minik8s.api.models.base import ApiModel
from minik8s.api.models.meta import LabelSelector, TypedObject


class PolicyRule(ApiModel):
    verbs: list[str] | None = None
    api_groups: list[str] | None = None
    resources: list[str] | None = None
    resource_names: list[str] | None = None
    non_resource_urls: list[str] | None = Field(default=None, alias="nonResourceURLs")


class AggregationRule(ApiModel):
    cluster_role_selectors: list[LabelSelector] | None = None


class Role(TypedObject):
    rules: list[PolicyRule] | None = None


class ClusterRole(TypedObject):
    rules: list[PolicyRule] | None = None
    aggregation_rule: AggregationRule | None = None


class RoleRef(ApiModel):
    api_group: str | None = None
    kind: str | None = None
    name: str | None = None


class Subject(ApiModel):
    kind: str | None = None
    api_group: str | None = None
    name: str | None = None
    namespace: str | None = None


class RoleBinding(TypedObject):
    role_ref: RoleRef | None = None
    subjects: list[Subject] | None = None


class ClusterRoleBinding(TypedObject):
    role_ref: RoleRef | None = None
    subjects: list[Subject] | None = None
