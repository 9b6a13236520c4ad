"""certificates.k8s.io/v1 CertificateSigningRequest: a client asks a signer for a certificate."""

from __future__ import annotations

from minik8s.api.models.base import ApiModel
from minik8s.api.models.meta import Condition, TypedObject


class CertificateSigningRequestSpec(ApiModel):
    request: str | None = None
    """A PEM `CERTIFICATE REQUEST`, base64-encoded (a Go []byte)."""
    signer_name: str | None = None
    expiration_seconds: int | None = None
    usages: list[str] | None = None
    username: str | None = None
    """Who created the request: set by the apiserver, never by the client."""
    uid: str | None = None
    groups: list[str] | None = None
    extra: dict[str, list[str]] | None = None


class CertificateSigningRequestStatus(ApiModel):
    conditions: list[Condition] | None = None
    certificate: str | None = None
    """PEM certificates, base64-encoded (the issued one first)."""


class CertificateSigningRequest(TypedObject):
    spec: CertificateSigningRequestSpec | None = None
    status: CertificateSigningRequestStatus | None = None
