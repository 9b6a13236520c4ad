"""The compose cluster's addon manager (the `addon-manager` service): keeps the `kube-dns`
Service and its Endpoints, which point at the `dns` container's address, as `minik8s up` does
for its DNS process. It checks every 10 s, so a `dns` container that restarts with another
address is followed."""

from __future__ import annotations

import base64
import os
import socket
import ssl
import sys
import time
from pathlib import Path

import httpx
import yaml

from minik8s.cli.launcher import addons

KUBECONFIG = Path(os.environ.get("KUBECONFIG", "/state/kubeconfig"))
DNS_HOST = os.environ.get("MINIK8S_DNS_HOST", "dns")
DNS_PORT = int(os.environ.get("MINIK8S_DNS_PORT", "53"))
INTERVAL = 10.0


def client() -> httpx.Client:
    config = yaml.safe_load(KUBECONFIG.read_text())
    cluster = config["clusters"][0]["cluster"]
    ca = base64.b64decode(cluster["certificate-authority-data"]).decode()
    token = config["users"][0]["user"]["token"]
    return httpx.Client(
        base_url=cluster["server"],
        headers={"Authorization": f"Bearer {token}"},
        verify=ssl.create_default_context(cadata=ca),
        timeout=10,
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
