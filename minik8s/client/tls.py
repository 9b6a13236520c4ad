"""TLS settings of a client connection, from the CA, certificate and key of a `ClientConfig`."""

from __future__ import annotations

import ssl
import tempfile
from pathlib import Path

from minik8s.client.kubeconfig import ClientConfig, ConfigError


def tls_context(config: ClientConfig) -> ssl.SSLContext | bool:
    """The TLS settings for `config`: True (system CAs) or a context with its CAs and cert.

    Raises `ConfigError` (one line) when a CA, certificate or key cannot be loaded.
    """
    try:
        return _tls_context(config)
    except (OSError, ssl.SSLError, ValueError) as e:
        detail = getattr(e, "strerror", None) or str(e) or type(e).__name__
        files = [config.certificate_authority, config.client_certificate, config.client_key]
        named = ", ".join(f for f in files if f) or "inline kubeconfig data"
        raise ConfigError(f"cannot load TLS credentials from {named}: {detail}") from e


def _tls_context(config: ClientConfig) -> ssl.SSLContext | bool:
    uses_client_cert = config.client_certificate or config.client_certificate_data
    if not (
        config.certificate_authority
        or config.certificate_authority_data
        or config.insecure_skip_tls_verify
        or uses_client_cert
    ):
        return True
    cadata = (
        config.certificate_authority_data.decode() if config.certificate_authority_data else None
    )
    context = ssl.create_default_context(cafile=config.certificate_authority, cadata=cadata)
    if config.insecure_skip_tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if config.client_certificate and (config.client_key or not config.client_key_data):
        context.load_cert_chain(config.client_certificate, config.client_key)
    elif uses_client_cert:
        # ssl loads certificates only from files: write the inline data to a private temp dir.
        with tempfile.TemporaryDirectory(prefix="minik8s-tls-") as tmp:
            cert = _private_file(Path(tmp) / "cert.pem", config.client_certificate_data)
            key = _private_file(Path(tmp) / "key.pem", config.client_key_data)
            context.load_cert_chain(
                config.client_certificate or str(cert), config.client_key or (key and str(key))
            )
    return context


def _private_file(path: Path, data: bytes | None) -> Path | None:
    if data is None:
        return None
    path.touch(mode=0o600)
    path.write_bytes(data)
    return path
