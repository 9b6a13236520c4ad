"""Encryption at rest: the value transformers of Kubernetes' EncryptionConfiguration providers.

A stored value is `k8s:enc:<provider>:v1:<key name>:` followed by the ciphertext, exactly as
Kubernetes writes it, so data encrypted here reads there and back:
- `aescbc`: a random 16-byte IV, then AES-CBC of the value with PKCS#7 padding;
- `secretbox`: a random 24-byte nonce, then XSalsa20-Poly1305 (NaCl's secretbox) of the value;
- `identity`: the value as is, no prefix.

Writes use the first provider of a resource's list; reads use whichever provider's prefix the
value starts with (identity matches anything), so keys rotate by adding the new key first.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import nacl.exceptions
import nacl.secret
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from minik8s.store import errors

AES_BLOCK = 16
AESCBC_KEY_SIZES = (16, 24, 32)


class Provider(Protocol):
    prefix: bytes
    """What a value this provider wrote starts with (empty for identity)."""

    def encrypt(self, plaintext: bytes) -> bytes:
        """The stored bytes, prefix included."""
        ...

    def decrypt(self, stored: bytes) -> bytes:
        """The plaintext of bytes that start with `prefix`."""
        ...


class Identity:
    prefix = b""

    def encrypt(self, plaintext: bytes) -> bytes:
        return plaintext

    def decrypt(self, stored: bytes) -> bytes:
        return stored


class AesCbc:
    def __init__(self, key_name: str, key: bytes) -> None:
        if len(key) not in AESCBC_KEY_SIZES:
            raise ValueError(f"aescbc key {key_name!r} must be 16, 24 or 32 bytes, not {len(key)}")
        self.prefix = f"k8s:enc:aescbc:v1:{key_name}:".encode()
        self._key = key

    def encrypt(self, plaintext: bytes) -> bytes:
        iv = os.urandom(AES_BLOCK)
        padder = padding.PKCS7(AES_BLOCK * 8).padder()
        padded = padder.update(plaintext) + padder.finalize()
        encryptor = Cipher(algorithms.AES(self._key), modes.CBC(iv)).encryptor()
        return self.prefix + iv + encryptor.update(padded) + encryptor.finalize()

    def decrypt(self, stored: bytes) -> bytes:
        body = stored[len(self.prefix) :]
        if len(body) < 2 * AES_BLOCK or len(body) % AES_BLOCK:
            raise errors.TransformFailed("the stored data is not a whole number of AES blocks")
        iv, ciphertext = body[:AES_BLOCK], body[AES_BLOCK:]
        decryptor = Cipher(algorithms.AES(self._key), modes.CBC(iv)).decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        unpadder = padding.PKCS7(AES_BLOCK * 8).unpadder()
        try:
            return unpadder.update(padded) + unpadder.finalize()
        except ValueError as e:
            raise errors.TransformFailed("invalid PKCS7 data (a wrong key?)") from e


class SecretBox:
    def __init__(self, key_name: str, key: bytes) -> None:
        if len(key) != nacl.secret.SecretBox.KEY_SIZE:
            raise ValueError(f"secretbox key {key_name!r} must be 32 bytes, not {len(key)}")
        self.prefix = f"k8s:enc:secretbox:v1:{key_name}:".encode()
        self._box = nacl.secret.SecretBox(key)

    def encrypt(self, plaintext: bytes) -> bytes:
        return self.prefix + bytes(self._box.encrypt(plaintext))

    def decrypt(self, stored: bytes) -> bytes:
        try:
            return bytes(self._box.decrypt(stored[len(self.prefix) :]))
        except nacl.exceptions.CryptoError as e:
            raise errors.TransformFailed(f"secretbox: {e} (a wrong key?)") from e


@dataclass(frozen=True)
class ProviderChain:
    """The providers of one resource: write with the first, read with the matching one."""

    providers: Sequence[Provider]

    def to_storage(self, plaintext: bytes) -> bytes:
        return self.providers[0].encrypt(plaintext)

    def from_storage(self, stored: bytes) -> bytes:
        for provider in self.providers:
            if stored.startswith(provider.prefix):
                return provider.decrypt(stored)
        raise errors.TransformFailed("no matching prefix found (is the key still configured?)")


class ResourceTransformer:
    """What the store calls for every value: the chain of the value's resource, if any.

    `chains` maps a resource's plural (the second part of `/registry/<plural>/…`) to its chain;
    resources without one are stored as plain JSON."""

    def __init__(self, chains: Mapping[str, ProviderChain]) -> None:
        self._chains = dict(chains)

    def chain_for(self, key: bytes) -> ProviderChain | None:
        parts = key.split(b"/", 3)
        return self._chains.get(parts[2].decode()) if len(parts) > 2 else None

    def to_storage(self, key: bytes, plaintext: bytes) -> bytes:
        chain = self.chain_for(key)
        return plaintext if chain is None else chain.to_storage(plaintext)

    def from_storage(self, key: bytes, stored: bytes) -> bytes:
        chain = self.chain_for(key)
        if chain is None:
            return stored
        try:
            return chain.from_storage(stored)
        except errors.TransformFailed as e:
            raise errors.TransformFailed(f"unable to transform key {key.decode()!r}: {e}") from e

    @property
    def resources(self) -> list[str]:
        return sorted(self._chains)
