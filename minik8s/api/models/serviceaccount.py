"""core/v1 Secret and ServiceAccount, and authentication.k8s.io/v1 TokenRequest."""

from __future__ import annotations

from minik8s.api.models.base import ApiModel
from minik8s.api.models.meta import ObjectMeta, ObjectReference, TypedObject


class LocalObjectReference(ApiModel):
    name: str | None = None


class Secret(TypedObject):
    data: dict[str, str] | None = None
    string_data: dict[str, str] | None = None
    type: str | None = None
    immutable: bool | None = None


class ServiceAccount(TypedObject):
    secrets: list[ObjectReference] | None = None
    image_pull_secrets: list[LocalObjectReference] | None = None
    automount_service_account_token: bool | None = None


class BoundObjectReference(ApiModel):
    kind: str | None = None
    api_version: str | None = None
    name: str | None = None
    uid: str | None = None


class TokenRequestSpec(ApiModel):
    audiences: list[str] | None = None
    expiration_seconds: int | None = None
    bound_object_ref: BoundObjectReference | None = None


class TokenRequestStatus(ApiModel):
    """Written by the server; whatever a client sends here is ignored."""

    token: str | None = None
    expiration_timestamp: str | None = None


class TokenRequest(ApiModel):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    spec: TokenRequestSpec | None = None
    status: TokenRequestStatus | None = None
