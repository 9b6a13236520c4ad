"""The service account keys: the private key that signs tokens and the public keys that verify
them (`--service-account-signing-key-file`, `--service-account-key-file`), as PEM files.

A key's id (`kid`) is Kubernetes': the unpadded base64url SHA-256 of its DER public key, so
tokens and the JWKS document name keys the way Kubernetes does.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
_CURVE_ALGORITHMS = {"secp256r1": ("ES256", "P-256"), "secp384r1": ("ES384", "P-384"),
                     "secp521r1": ("ES512", "P-521")}  # fmt: skip


class KeyError_(ValueError):
    """A key file holds no usable RSA or ECDSA key; says which and why."""


@dataclass(frozen=True)
class VerificationKey:
    key: PublicKey
    kid: str
    algorithm: str


def key_id(public_key: PublicKey) -> str:
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def algorithm(public_key: PublicKey) -> str:
    if isinstance(public_key, rsa.RSAPublicKey):
        return "RS256"
    name = public_key.curve.name
    if name not in _CURVE_ALGORITHMS:
        raise KeyError_(f"unsupported elliptic curve {name}")
    return _CURVE_ALGORITHMS[name][0]


def load_signing_key(path: str | Path) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as e:
        raise KeyError_(f"{path}: not a PEM private key: {e}") from e
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise KeyError_(f"{path}: only RSA and ECDSA keys can sign service account tokens")
    return key


def load_verification_keys(path: str | Path) -> list[VerificationKey]:
    """Every public key in a PEM file: public keys, private keys (their public half) or
    certificates, as kube-apiserver's --service-account-key-file accepts."""
    try:
        text = Path(path).read_bytes()
    except OSError as e:
        raise KeyError_(f"{path}: {e}") from e
    found: list[PublicKey] = []
    for block in _pem_blocks(text):
        found.append(_public_key_of(block, path))
    if not found:
        raise KeyError_(f"{path}: no PEM public key, private key or certificate")
    return [VerificationKey(k, key_id(k), algorithm(k)) for k in found]


def _pem_blocks(text: bytes) -> list[bytes]:
    blocks, current = [], []
    for line in text.splitlines(keepends=True):
        if line.startswith(b"-----BEGIN "):
            current = [line]
        elif current:
            current.append(line)
            if line.startswith(b"-----END "):
                blocks.append(b"".join(current))
                current = []
    return blocks


def _public_key_of(block: bytes, path: str | Path) -> PublicKey:
    try:
        if b"CERTIFICATE" in block.split(b"\n", 1)[0]:
            key: Any = x509.load_pem_x509_certificate(block).public_key()
        elif b"PRIVATE KEY" in block.split(b"\n", 1)[0]:
            key = serialization.load_pem_private_key(block, password=None).public_key()
        else:
            key = serialization.load_pem_public_key(block)
    except (ValueError, TypeError) as e:
        raise KeyError_(f"{path}: unreadable PEM block: {e}") from e
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise KeyError_(f"{path}: only RSA and ECDSA keys verify service account tokens")
    return key


def jwk(key: VerificationKey) -> dict[str, str]:
    """The key as a JSON Web Key, as the apiserver's `/openid/v1/jwks` lists it."""
    entry = {"use": "sig", "kid": key.kid, "alg": key.algorithm}
    if isinstance(key.key, rsa.RSAPublicKey):
        numbers = key.key.public_numbers()
        return {**entry, "kty": "RSA", "n": _b64(numbers.n), "e": _b64(numbers.e)}
    ec_numbers = key.key.public_numbers()
    size = (key.key.curve.key_size + 7) // 8
    return {
        **entry,
        "kty": "EC",
        "crv": _CURVE_ALGORITHMS[key.key.curve.name][1],
        "x": _b64(ec_numbers.x, size),
        "y": _b64(ec_numbers.y, size),
    }


def _b64(number: int, size: int | None = None) -> str:
    raw = number.to_bytes(size or (number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
