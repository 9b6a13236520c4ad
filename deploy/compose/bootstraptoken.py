"""The compose cluster's bootstrap token (the one-shot `bootstrap-token` service), once the
apiserver is up: the token's Secret (`kube-system/bootstrap-token-<id>`, usages
authentication and signing, group `system:bootstrappers:kubeadm:default-node-token`, no
expiry: scaled workers join later) and `cluster-info` naming https://apiserver:6443 if missing.
The token is `init`'s (volume `bootstrap-creds`, the same as the nodes' `join-creds`); a rerun
leaves an existing Secret as it is.

It runs as system:minik8s:bootstrap-token, which may create Secrets in kube-system and
ConfigMaps in kube-public and nothing else (not read a Secret, not bind a role): kubeadm's RBAC
bindings for joining nodes are in the apiserver's bootstrap policy
(`--enable-bootstrap-token-auth`), so no admin credential is handed to this service."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from minik8s.api import bootstraptoken, errors
from minik8s.api.resources import SECRETS
from minik8s.cli.bootstrap import clusterobjects, tokens
from minik8s.client import ApiClient, load_kubeconfig

CREDS = Path(os.environ.get("MINIK8S_BOOTSTRAP_CREDS", "/etc/minik8s"))
DESCRIPTION = "docker-compose nodes (minik8s join)"
TIMEOUT = 120.0


async def create(token: str) -> str:
    async with ApiClient(load_kubeconfig(CREDS / "kubeconfig")) as client:
        await clusterobjects.ensure_cluster_info(client, client.server, tokens.ca_pem(client))
        secret = bootstraptoken.new_secret(token, None, datetime.now(UTC), DESCRIPTION)
        try:
            await client.create(SECRETS, secret, bootstraptoken.NAMESPACE)
            return "created"
        except errors.AlreadyExists:
            return "exists"


async def main() -> None:
    token = (CREDS / "token").read_text().strip()
    token_id = token.split(".")[0]
    deadline = time.monotonic() + TIMEOUT
    while True:  # compose waits on this service's exit code: ride out an apiserver restart
        try:
            done = await create(token)
            print(f"bootstrap-token: {token_id} {done}", file=sys.stderr)
            return
        except (OSError, errors.ApiError) as e:
            if time.monotonic() > deadline:
                sys.exit(f"bootstrap-token: {token_id} not created within {TIMEOUT:.0f}s: {e}")
            print(f"bootstrap-token: {e}; retrying", file=sys.stderr, flush=True)
            await asyncio.sleep(1)


if __name__ == "__main__":
    asyncio.run(main())
