"""The compose cluster's addon manager (the `addon-manager` service): keeps the `kube-dns`
Service and its Endpoints, which point at the `dns` container's address, as `minik8s up` does
for its DNS process. It checks every 10 s, so a `dns` container that restarts with another
address is followed. It runs as system:kube-addon-manager (get, create, update of Services and
Endpoints)."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import httpx

from minik8s.cli.launcher import addons
from minik8s.client.kubeconfig import load_kubeconfig
from minik8s.client.tls import tls_context

KUBECONFIG = Path(os.environ.get("KUBECONFIG", "/etc/minik8s/kubeconfig"))
DNS_HOST = os.environ.get("MINIK8S_DNS_HOST", "dns")
DNS_PORT = int(os.environ.get("MINIK8S_DNS_PORT", "53"))
INTERVAL = 10.0


def client() -> httpx.Client:
    config = load_kubeconfig(KUBECONFIG)
    headers = {"Authorization": f"Bearer {config.token}"} if config.token else {}
    return httpx.Client(
        base_url=config.server, headers=headers, verify=tls_context(config), timeout=10
    )


def main() -> None:
    with client() as api:
        last = ""
        while True:
            try:
                address = socket.gethostbyname(DNS_HOST)
                done = addons.ensure_dns_objects(api, address, DNS_PORT)
                if done != "up to date" or address != last:
                    print(f"addon-manager: kube-dns -> {address}:{DNS_PORT} ({done})",
                          file=sys.stderr, flush=True)  # fmt: skip
                last = address
            except Exception as e:  # the apiserver or the dns container may be restarting
                print(f"addon-manager: {e}", file=sys.stderr, flush=True)
            time.sleep(INTERVAL)


if __name__ == "__main__":
    main()
