"""What a ServiceAccount token costs the apiserver: issuing it, its first verification, and
its later requests (cached), in process, with the apiserver's own authenticator.

    .venv/bin/python -m bench.satoken [--tokens 200] [--repeat 20000]

The authenticator checks the signature and claims once per token and caches the result; each
later request of that token still checks its expiry and that its ServiceAccount and pod exist
with the uids in the token (dict lookups in the watch cache, here a dict of the same shape).
Target: a token's second request costs <= 20 µs of verification.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minik8s.api.resources import PODS, SERVICEACCOUNTS, ResourceType
from minik8s.apiserver.serviceaccount import keys, tokens
from minik8s.apiserver.serviceaccount.authenticator import ServiceAccountAuthenticator

ISSUER = "https://kubernetes.default.svc.cluster.local"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=200, help="distinct tokens issued")
    parser.add_argument("--repeat", type=int, default=20_000, help="cached verifications")
    args = parser.parse_args()

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key()
    issuer = tokens.TokenIssuer(key, ISSUER, [ISSUER])
    cache: dict[str, Any] = {}
    for i in range(args.tokens):
        meta = {"namespace": "bench", "uid": f"uid-{i}"}
        cache[SERVICEACCOUNTS.storage_key("bench", f"sa-{i}")] = {"metadata": {**meta}}
        cache[PODS.storage_key("bench", f"pod-{i}")] = {"metadata": {**meta}}

    def lookup(resource: ResourceType, namespace: str | None, name: str) -> Any:
        return cache.get(resource.storage_key(namespace, name))

    verification = [keys.VerificationKey(public, keys.key_id(public), "RS256")]
    authenticator = ServiceAccountAuthenticator(verification, [ISSUER], [ISSUER], lookup)

    now = int(time.time())
    started = time.perf_counter()
    issued = []
    for i in range(args.tokens):
        account = {"metadata": {"name": f"sa-{i}", "namespace": "bench", "uid": f"uid-{i}"}}
        bound = tokens.Bound("Pod", f"pod-{i}", f"uid-{i}")
        issued.append(issuer.sign(tokens.claims(ISSUER, [ISSUER], account, now, 3607, bound)))
    sign_us = (time.perf_counter() - started) / args.tokens * 1e6

    started = time.perf_counter()
    for token in issued:
        assert authenticator.authenticate(token) is not None
    first_us = (time.perf_counter() - started) / args.tokens * 1e6

    samples = []
    per_round = len(issued)
    rounds = max(1, args.repeat // per_round)
    for _ in range(rounds):
        started = time.perf_counter()
        for token in issued:
            authenticator.authenticate(token)
        samples.append((time.perf_counter() - started) / per_round * 1e6)
    cached_us = statistics.median(samples)

    print(f"tokens: {args.tokens} (RS256, 2048-bit key, pod-bound)")
    print(f"issue (TokenRequest signing):        {sign_us:8.1f} µs/token")
    print(f"first request (signature + claims):  {first_us:8.1f} µs/token")
    print(f"later requests (cached + uid checks): {cached_us:7.2f} µs/request "
          f"(median of {rounds} rounds; target <= 20 µs)")  # fmt: skip


if __name__ == "__main__":
    main()
