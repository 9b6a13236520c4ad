"""Service account issuer discovery, as the apiserver serves it for OIDC relying parties:
`/.well-known/openid-configuration` and `/openid/v1/jwks` (only for an https issuer URL)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from minik8s.apiserver.serviceaccount import keys

CONFIGURATION_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/openid/v1/jwks"
JWKS_CONTENT_TYPE = "application/jwk-set+json"


def served(issuer: str) -> bool:
    return issuer.startswith("https://")


def configuration(
    issuer: str, jwks_uri: str, verification_keys: Sequence[keys.VerificationKey]
) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "jwks_uri": jwks_uri,
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": sorted({k.algorithm for k in verification_keys}),
    }


def jwks(verification_keys: Sequence[keys.VerificationKey]) -> dict[str, Any]:
    return {"keys": [keys.jwk(k) for k in verification_keys]}
