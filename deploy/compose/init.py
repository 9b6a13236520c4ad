"""One-shot set-up of the docker-compose cluster's credentials (the `init` service).

Writes, once, into the `etcd-pki` volume (mounted only by the etcd members and the apiserver):
etcd's own CA, the members' serving certificate and the apiserver's client certificate for etcd.
Writes, once, into the shared `state` volume: the CA and the apiserver's serving certificate
(valid for `apiserver`, the compose service name, and 127.0.0.1), the token file and the
in-cluster kubeconfig (`https://apiserver:6443`); then the host's kubeconfig
(`https://127.0.0.1:<published port>`) into the bind-mounted output directory, owned by that
directory's owner. Rerunning it keeps what exists, so `docker-compose up` is idempotent.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from minik8s import pki
from minik8s.cli.launcher import kubeconfig

STATE = Path(os.environ.get("MINIK8S_STATE", "/state"))
OUT = Path(os.environ.get("MINIK8S_OUT", "/out"))
ETCD_PKI = Path(os.environ.get("MINIK8S_ETCD_PKI", "/etcd-pki"))
HOSTS = ("apiserver", "localhost", "127.0.0.1")
ETCD_HOSTS = ("etcd-1", "etcd-2", "etcd-3", "localhost", "127.0.0.1")


def main() -> None:
    port = int(os.environ.get("MINIK8S_API_PORT", "6443"))
    cert = pki.ensure_serving_certificate(STATE / "pki", HOSTS)
    pki.ensure_etcd_certificates(ETCD_PKI, ETCD_HOSTS)
    token = kubeconfig.ensure_token(STATE / "tokens.csv")
    ca = cert.ca_cert.read_bytes()
    kubeconfig.write(STATE / "kubeconfig", "https://apiserver:6443", token, ca)
    # The components run as root in their containers; the files are read-only mounted there.
    for path in (STATE / "kubeconfig", STATE / "tokens.csv", cert.key):
        path.chmod(0o644)
    if OUT.is_dir():
        host_file = OUT / "kubeconfig"
        kubeconfig.write(host_file, f"https://127.0.0.1:{port}", token, ca)
        owner = OUT.stat()
        os.chown(host_file, owner.st_uid, owner.st_gid)
        print(f"init: wrote {host_file.name} for https://127.0.0.1:{port}", file=sys.stderr)
    print("init: credentials ready", file=sys.stderr)


if __name__ == "__main__":
    main()
