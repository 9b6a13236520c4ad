"""core/v1 volume sources that carry credentials and pod facts: secret, downwardAPI, projected."""

from __future__ import annotations

from pydantic import Field

from minik8s.api.models.base import ApiModel, Quantity


class KeyToPath(ApiModel):
    key: str
    path: str
    mode: int | None = None


class ObjectFieldSelector(ApiModel):
    api_version: str | None = None
    field_path: str


class ResourceFieldSelector(ApiModel):
    container_name: str | None = None
    resource: str
    divisor: Quantity | None = None


class SecretVolumeSource(ApiModel):
    secret_name: str | None = None
    items: list[KeyToPath] | None = None
    default_mode: int | None = None
    optional: bool | None = None


class DownwardAPIVolumeFile(ApiModel):
    path: str
    field_ref: ObjectFieldSelector | None = None
    resource_field_ref: ResourceFieldSelector | None = None
    mode: int | None = None


class DownwardAPIVolumeSource(ApiModel):
    items: list[DownwardAPIVolumeFile] | None = None
    default_mode: int | None = None


class SecretProjection(ApiModel):
    name: str | None = None
    items: list[KeyToPath] | None = None
    optional: bool | None = None


class ConfigMapProjection(ApiModel):
    name: str | None = None
    items: list[KeyToPath] | None = None
    optional: bool | None = None


class DownwardAPIProjection(ApiModel):
    items: list[DownwardAPIVolumeFile] | None = None


class ServiceAccountTokenProjection(ApiModel):
    audience: str | None = None
    expiration_seconds: int | None = None
    path: str


class VolumeProjection(ApiModel):
    secret: SecretProjection | None = None
    config_map: ConfigMapProjection | None = None
    downward_api: DownwardAPIProjection | None = Field(default=None, alias="downwardAPI")
    service_account_token: ServiceAccountTokenProjection | None = None


class ProjectedVolumeSource(ApiModel):
    sources: list[VolumeProjection] | None = None
    default_mode: int | None = None
