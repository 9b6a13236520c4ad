"""Token discovery (kubeadm's `discovery/token`): learn and trust the cluster's CA knowing only
a bootstrap token and the CA's public key hash.

1. `cluster-info` is read from `kube-public` without verifying the server (nothing is trusted
   yet) and as nobody (`system:anonymous` may read it, nothing else);
2. its `jws-kubeconfig-<token id>` must be the token's signature of its `kubeconfig`: only a
   cluster that holds the token could have made it (the bootstrap signer may not have signed
   a new token yet: retried until `timeout`);
3. the CA in that kubeconfig must hash to one of the `--discovery-token-ca-cert-hash` pins;
4. `cluster-info` is read again, now verifying the server against that CA, and must not have
   changed.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import yaml

from minik8s import pki
from minik8s.api import bootstraptoken, errors
from minik8s.api.resources import CONFIGMAPS
from minik8s.client import ApiClient, ClientConfig, ClientSettings, RetryPolicy
from minik8s.client.exceptions import ServerUnreachable

logger = logging.getLogger(__name__)


class DiscoveryFailed(Exception):
    pass


class NotSignedYet(DiscoveryFailed):
    """No signature for the token (yet: the bootstrap signer may not have run): retried."""


@dataclass(frozen=True)
class ClusterInfo:
    server: str
    """The control plane endpoint `cluster-info` names."""
    ca_pem: bytes


async def _fetch(config: ClientConfig) -> dict:
    once = ClientSettings(
        connect_timeout=5.0, request_timeout=10.0, retry=RetryPolicy(max_attempts=1)
    )
    async with ApiClient(config, once) as client:
        return await client.get(
            CONFIGMAPS, bootstraptoken.CLUSTER_INFO, bootstraptoken.CLUSTER_INFO_NAMESPACE
        )


def validate(configmap: dict, token: str, pins: list[str]) -> ClusterInfo:
    """Steps 2 and 3 on a fetched `cluster-info` (pure)."""
    token_id, token_secret = bootstraptoken.parse(token)
    data = configmap.get("data") or {}
    content = data.get(bootstraptoken.KUBECONFIG_KEY)
    if not content:
        raise DiscoveryFailed("there is no kubeconfig in the cluster-info ConfigMap")
    signature = data.get(f"{bootstraptoken.JWS_PREFIX}{token_id}")
    if not signature:
        raise NotSignedYet(
            "there is no JWS signed token in the cluster-info ConfigMap. This token id "
            f'"{token_id}" is invalid for this cluster, or it has expired. Use "minik8s token '
            'create" on the control-plane node to create a new valid token'
        )
    if not bootstraptoken.signature_is_valid(signature, content, token_id, token_secret):
        raise DiscoveryFailed(
            "failed to verify JWS signature of received cluster info object, can't trust this "
            "API Server"
        )
    try:
        kubeconfig = yaml.safe_load(content)
        cluster = kubeconfig["clusters"][0]["cluster"]
        server = str(cluster["server"])
        ca_pem = base64.b64decode(cluster["certificate-authority-data"])
        actual = pki.ca_cert_hash(ca_pem)
    except (yaml.YAMLError, KeyError, IndexError, TypeError, ValueError) as e:
        raise DiscoveryFailed(f"the cluster-info kubeconfig is not usable: {e}") from e
    if actual not in pins:
        raise DiscoveryFailed(
            f"cluster CA found in cluster-info ConfigMap is invalid: none of the public keys "
            f'"{actual}" are pinned'
        )
    return ClusterInfo(server, ca_pem)


def retry_reason(error: Exception) -> str:
    """Why one discovery attempt failed, in a few words (what `join` prints per retry)."""
    if isinstance(error, NotSignedYet):
        return "cluster-info has no signature for this token yet (or the token is unknown)"
    text = str(error)
    lowered = text.lower()
    if isinstance(error, ServerUnreachable | OSError):
        if "refused" in lowered or "connect call failed" in lowered:
            return "connection refused"
        if "timeout" in lowered or "timed out" in lowered:
            return "connection timed out"
        if "no route" in lowered or "unreachable" in lowered:
            return "no route to host"
    if isinstance(error, errors.ApiError):
        return f"HTTP {error.code} {error.reason}: {text}"
    return text


async def discover(
    endpoint: str,
    token: str,
    pins: list[str],
    timeout: float = 120.0,
    on_retry: Callable[[str], None] | None = None,
) -> ClusterInfo:
    """The cluster's endpoint and CA, trusted as above; DiscoveryFailed (one line) if not.
    `on_retry(line)` hears about every failed attempt that is retried, with its reason (a
    wrong signature or CA pin is not retried: it fails at once, as in kubeadm)."""
    bootstraptoken.parse(token)
    for pin in pins:
        if not pin.startswith("sha256:") or len(pin) != 71:
            raise DiscoveryFailed(f'invalid public key hash "{pin}": use sha256:<64 hex digits>')
    deadline = time.monotonic() + timeout
    insecure = ClientConfig(server=endpoint.rstrip("/"), insecure_skip_tls_verify=True)
    while True:
        try:
            info = validate(await _fetch(insecure), token, pins)
            break
        except (NotSignedYet, errors.ApiError, OSError) as e:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DiscoveryFailed(str(e)) from e
            line = f"{endpoint}: {retry_reason(e)}; retrying ({left:.0f}s left)"
            logger.info("discovery: %s", line)
            if on_retry is not None:
                on_retry(line)
            await asyncio.sleep(1.0)
    trusted = ClientConfig(server=endpoint.rstrip("/"), certificate_authority_data=info.ca_pem)
    try:
        again = validate(await _fetch(trusted), token, pins)
    except errors.ApiError as e:
        raise DiscoveryFailed(f"cluster-info through the pinned CA: {e}") from e
    if again != info:
        raise DiscoveryFailed("cluster-info changed between two reads: can't trust it")
    logger.info("discovered the cluster at %s (CA %s)", info.server, pins[0])
    return info
