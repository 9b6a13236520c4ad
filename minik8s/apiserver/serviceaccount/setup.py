"""Wire the ServiceAccount pieces from the apiserver's flags (`--service-account-*`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from minik8s.apiserver.config import ApiserverSettings
from minik8s.apiserver.serviceaccount import keys, oidc
from minik8s.apiserver.serviceaccount.authenticator import Lookup, ServiceAccountAuthenticator
from minik8s.apiserver.serviceaccount.tokens import TokenIssuer


@dataclass
class ServiceAccounts:
    """What the apiserver needs for ServiceAccounts; absent pieces are None."""

    issuer: TokenIssuer | None
    """Signs TokenRequests (with `--service-account-signing-key-file`)."""
    authenticator: ServiceAccountAuthenticator | None
    """Verifies tokens (with `--service-account-key-file`, or the signing key's public half)."""
    verification_keys: list[keys.VerificationKey] = field(default_factory=list)
    issuer_url: str = ""
    jwks_uri: str = ""
    max_expiration_seconds: int = 0

    @property
    def admission_enabled(self) -> bool:
        """The ServiceAccount admission runs when tokens can be issued for what it mounts."""
        return self.issuer is not None

    @property
    def discovery_served(self) -> bool:
        return bool(self.verification_keys) and oidc.served(self.issuer_url)

    def bind(self, lookup: Lookup) -> None:
        if self.authenticator is not None:
            self.authenticator.lookup = lookup


def from_settings(settings: ApiserverSettings) -> ServiceAccounts | None:
    """None when no service account flag is given. Raises `keys.KeyError_` or ValueError
    for flags that cannot work (a start-up error, one line)."""
    s = settings
    if not (s.service_account_signing_key_file or s.service_account_key_file):
        return None
    if not s.service_account_issuer:
        raise ValueError("--service-account-issuer is required with the service account keys")
    issuer_url = s.service_account_issuer[0]
    audiences = list(s.api_audiences or s.service_account_issuer)
    issuer = None
    key_files = list(s.service_account_key_file)
    if s.service_account_signing_key_file:
        issuer = TokenIssuer(
            keys.load_signing_key(s.service_account_signing_key_file), issuer_url, audiences
        )
        if not key_files:
            key_files = [s.service_account_signing_key_file]
    verification = [k for path in key_files for k in keys.load_verification_keys(path)]
    authenticator = ServiceAccountAuthenticator(verification, s.service_account_issuer, audiences)
    scheme_host = f"https://{s.bind_address}:{s.port}"
    return ServiceAccounts(
        issuer,
        authenticator,
        verification,
        issuer_url,
        s.service_account_jwks_uri or f"{scheme_host}{oidc.JWKS_PATH}",
        s.service_account_max_token_expiration,
    )
