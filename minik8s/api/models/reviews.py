"""authentication.k8s.io/v1 and authorization.k8s.io/v1 reviews: questions, never stored."""

from __future__ import annotations

from minik8s.api.models.base import ApiModel
from minik8s.api.models.meta import TypedObject


class TokenReviewSpec(ApiModel):
    token: str | None = None
    audiences: list[str] | None = None


class TokenReview(TypedObject):
    spec: TokenReviewSpec | None = None


class SelfSubjectReview(TypedObject):
    pass


class ResourceAttributes(ApiModel):
    namespace: str | None = None
    verb: str | None = None
    group: str | None = None
    version: str | None = None
    resource: str | None = None
    subresource: str | None = None
    name: str | None = None


class NonResourceAttributes(ApiModel):
    path: str | None = None
    verb: str | None = None


class SubjectAccessReviewSpec(ApiModel):
    resource_attributes: ResourceAttributes | None = None
    non_resource_attributes: NonResourceAttributes | None = None
    user: str | None = None
    groups: list[str] | None = None
    uid: str | None = None
    extra: dict[str, list[str]] | None = None


class SubjectAccessReview(TypedObject):
    spec: SubjectAccessReviewSpec | None = None


class SelfSubjectAccessReview(TypedObject):
    spec: SubjectAccessReviewSpec | None = None


class LocalSubjectAccessReview(TypedObject):
    spec: SubjectAccessReviewSpec | None = None


class SelfSubjectRulesReviewSpec(ApiModel):
    namespace: str | None = None


class SelfSubjectRulesReview(TypedObject):
    spec: SelfSubjectRulesReviewSpec | None = None
