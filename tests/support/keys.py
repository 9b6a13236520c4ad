"""Whether a file holds a CA's private key, whatever the file is named: the tests' check that
etcd's CA key is nowhere a running container can read (tests/e2e/test_compose*.py)."""

from __future__ import annotations

import re

from cryptography import x509
from cryptography.hazmat.primitives import serialization

_PEM_PRIVATE_KEY = re.compile(
    rb"-----BEGIN ((?:[A-Z]+ )?PRIVATE KEY)-----\r?\n.+?-----END \1-----", re.DOTALL
)


def holds_key_of(certificate_pem: bytes, data: bytes) -> bool:
    """Whether `data` (any file's bytes) holds, in PEM, the private key of the certificate
    `certificate_pem`: a check that a CA's key is nowhere it must not be, whatever the file
    is named. Keys that do not parse (encrypted ones) are not counted."""
    wanted = (
        x509.load_pem_x509_certificate(certificate_pem)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    for match in _PEM_PRIVATE_KEY.finditer(data):
        try:
            key = serialization.load_pem_private_key(match.group(0), None)
        except (ValueError, TypeError):
            continue
        public = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if public == wanted:
            return True
    return False
