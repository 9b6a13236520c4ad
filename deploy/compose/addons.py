"""The compose cluster's addon manager (the `addon-manager` service): keeps the `kube-dns`
Service and its Endpoints, which point at the `dns` container's address, as `minik8s up` does
for its DNS process. It checks every 10 s, so a `dns` container that restarts with another
address is followed. It runs as system:kube-addon-manager (get, create, update of Services and
Endpoints)."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

from minik8s.cli.launcher import addons
from minik8s.client import ApiClient, load_kubeconfig

KUBECONFIG = Path(os.environ.get("KUBECONFIG", "/etc/minik8s/kubeconfig"))
DNS_HOST = os.environ.get("MINIK8S_DNS_HOST", "dns")
DNS_PORT = int(os.environ.get("MINIK8S_DNS_PORT", "53"))
INTERVAL = 10.0


async def main() -> None:
    config = load_kubeconfig(KUBECONFIG)
    async with ApiClient(config) as client:
        last = ""
        while True:
            try:
                address = socket.gethostbyname(DNS_HOST)
                done = await addons.ensure_dns_objects(client, address, DNS_PORT)
                if done != "up to date" or address != last:
                    print(f"addon-manager: kube-dns -> {address}:{DNS_PORT} ({done})",
                          file=sys.stderr, flush=True)  # fmt: skip
                last = address
            except Exception as e:  # the apiserver or the dns container may be restarting
                print(f"addon-manager: {e}", file=sys.stderr, flush=True)
            await asyncio.sleep(INTERVAL)


if __name__ == "__main__":
    asyncio.run(main())
