"""One-shot set-up of the docker-compose cluster's credentials (the `init` service).

The CA and its key live only in the `pki` volume, which only this service mounts. Every other
container gets a volume of its own holding only its own credentials, mode 0600:

    apiserver-creds    serving certificate (for `apiserver`, localhost, 127.0.0.1 and the
                       `kubernetes` Service: 10.96.0.1, kubernetes.default.svc…), the CA
                       certificate (client CA), its client certificate towards kubelets, the
                       service account key pair (`sa.key` signs tokens, `sa.pub` verifies
                       them), the EncryptionConfiguration of Secrets at rest and the audit
                       policy, as `minik8s up` makes them (each made once, never replaced: a
                       new key would make the tokens and Secrets already issued unreadable)
    <component>-creds  `kubeconfig`: its own client certificate (COMPONENTS below)
    dashboard-creds    also `audit-webhook.token`: the bearer token the apiserver's audit
                       webhook presents (apiserver-creds gets `audit-webhook.conf`, the
                       webhook's kubeconfig naming http://dashboard:9090/audit/webhook with it)
    controller-manager-creds  also `ca.crt`/`ca.key`: it signs the nodes' CSRs (kubeadm's
                       controller-manager holds the CA key the same way)
    join-creds         what every node needs to `minik8s join`, and nothing else: `token` (a
                       bootstrap token `<id>.<secret>`, made once) and `ca-cert-hash`
                       (`sha256:<hex>` of the CA's public key); each node gets its own kubelet
                       and kube-proxy certificates through CSRs (TLS bootstrapping)
    bootstrap-creds    `kubeconfig` (system:minik8s:bootstrap-token, its own certificate) and
                       `token` for the one-shot `bootstrap-token` service
                       (deploy/compose/bootstraptoken.py), which creates the token's Secret
                       and `cluster-info` once the apiserver is up (kubeadm's RBAC bindings
                       for joining are in the apiserver's bootstrap policy): it may do
                       nothing else

and the host's admin kubeconfig (`kubernetes-admin`, https://127.0.0.1:<published port>) goes
to the bind-mounted output directory, owned by its owner, mode 0600. Rerunning it keeps what
exists, so `docker-compose up` is idempotent. A new component is one line in COMPONENTS (and
a `<name>-creds` volume mounted at /state/<name> here and at /etc/minik8s there).

etcd has a CA of its own (no certificate of the cluster's CA opens etcd), issued once
(`pki.ensure_etcd_certificates`) into `pki/etcd` (kubeadm's pki/etcd), so its key too is only
in the `pki` volume; what the others get holds no CA key:

    etcd-pki           mounted by the etcd members only: `ca.crt` (it verifies clients) and
                       their serving certificate `server.crt`/`server.key`
    etcd-client        mounted by the apiserver only (at /etcd-pki): `ca.crt` and its own
                       client certificate `apiserver-etcd-client.crt`/`.key`

A cluster made before this layout kept etcd's CA key (and the apiserver's client key) in
`etcd-pki`: a rerun moves them into `pki/etcd`, issuing nothing again, and removes them there.

With the HA layout (deploy/docker-compose.ha.yml mounts these volumes here) also:

    etcd-<n>-peer      `peer.crt`/`peer.key`: member etcd-<n>'s own certificate for the TLS
                       between members (server and client auth, for its name only)
    apiserver-<n>-creds  apiserver-<n>'s own: what `apiserver-creds` holds, but its own
                       serving certificate (for `apiserver-<n>`, and the names above)
    loadbalancer-creds `haproxy.cfg` (apiserver-1..3 behind https://apiserver:6443, checked on
                       /readyz) and `ca.crt`, the cluster CA those checks verify against: no
                       private key
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from minik8s import pki
from minik8s.api import bootstraprbac, bootstraptoken, users
from minik8s.cli.launcher import audit, dashboard, encryption, identities, loadbalancer
from minik8s.cli.launcher.identities import Identity

STATE = Path(os.environ.get("MINIK8S_STATE", "/state"))
OUT = Path(os.environ.get("MINIK8S_OUT", "/out"))
ETCD_PKI = Path(os.environ.get("MINIK8S_ETCD_PKI", "/etcd-pki"))
"""The etcd members' volume: etcd's CA certificate and their serving certificate."""
ETCD_CLIENT = Path(os.environ.get("MINIK8S_ETCD_CLIENT", "/etcd-client"))
"""The apiserver's volume for etcd: etcd's CA certificate and its client certificate."""
HOSTS = ("apiserver", "localhost", "127.0.0.1", "10.96.0.1", *pki.SERVICE_NAMES)
"""Names of the apiserver: its compose service, loopback (the published port), and the
`kubernetes` Service pods reach it through (ClusterIP and names)."""
ETCD_HOSTS = ("etcd-1", "etcd-2", "etcd-3", "localhost", "127.0.0.1")
SERVER = "https://apiserver:6443"
AUDIT_WEBHOOK = "http://dashboard:9090" + dashboard.WEBHOOK_PATH
"""Where the apiserver sends its audit events: the dashboard's service on the compose network."""

ETCD_MEMBERS = ("etcd-1", "etcd-2", "etcd-3")
APISERVERS = ("apiserver-1", "apiserver-2", "apiserver-3")
"""The HA layout's apiservers, behind the load balancer that takes the name `apiserver`."""
SERVING_FILES = ("apiserver.crt", "apiserver.key")
"""The single apiserver's serving certificate: each HA apiserver gets its own instead."""
LOADBALANCER_DIR = "/etc/minik8s"
"""Where the load balancer's container mounts `loadbalancer-creds`."""

COMPONENTS: dict[str, Identity] = {
    "scheduler": identities.identity("scheduler"),
    "controller-manager": identities.identity("controller-manager"),
    "dns": identities.identity("dns"),
    "addon-manager": identities.identity("addon-manager"),
    "cloud-controller-manager": identities.identity("cloud-controller-manager"),
    "dashboard": identities.identity("dashboard"),
}
"""Control-plane component (its volume's directory under /state) -> who it is."""
BOOTSTRAP_TOKEN = Identity(bootstraprbac.TOKEN_WRITER)
"""The one-shot `bootstrap-token` service (the apiserver's bootstrap policy binds it)."""


def _join(ca_dir: Path) -> None:
    """The nodes' bootstrap token (made once, kept in `pki`) and the CA's hash, for `join`;
    the token and a kubeconfig of its own (system:minik8s:bootstrap-token: it may create
    Secrets in kube-system and ConfigMaps in kube-public, nothing else) for the service that
    creates the token's Secret."""
    kept = ca_dir / "bootstrap-token"
    if not kept.exists():
        pki.write_private(kept, bootstraptoken.generate() + "\n")
    token = kept.read_text()
    ca_pem = (ca_dir / "ca.crt").read_bytes()
    join = STATE / "join"
    _write_private(join / "token", token)
    _write_private(join / "ca-cert-hash", pki.ca_cert_hash(ca_pem) + "\n")
    bootstrap = STATE / "bootstrap"
    _write_private(bootstrap / "token", token)
    identities.write_kubeconfig(
        ca_dir, SERVER, BOOTSTRAP_TOKEN, "bootstrap-token-client", bootstrap / "kubeconfig"
    )


def _copy_private(source: Path, target: Path) -> None:
    _write_private(target, source.read_text())


def _write_private(target: Path, data: str) -> None:
    if not target.exists() or target.read_text() != data:
        pki.write_private(target, data)


def _etcd(ca_dir: Path) -> Path:
    """etcd's CA (and every certificate it issues) in `ca_dir`, only what the members need in
    `etcd-pki`, only what the apiserver needs in `etcd-client`; returns etcd's CA directory.
    The layout before kept everything in `etcd-pki`: moved here (the same CA and
    certificates, the members keep working), then the CA's key and the apiserver's client
    key no longer lie where the members read."""
    etcd_ca = ca_dir / "etcd"
    old = pki.EtcdCertificates(ETCD_PKI)
    if old.ca_key.exists() and not (etcd_ca / "ca.key").exists():
        for source in sorted(old.files(), key=lambda path: path == old.ca_key):  # the key last
            if source.exists():
                _copy_private(source, etcd_ca / source.name)
    certs = pki.ensure_etcd_certificates(etcd_ca, ETCD_HOSTS)
    etcd_ca.chmod(0o700)
    for target, files in ((ETCD_PKI, certs.member_files()), (ETCD_CLIENT, certs.apiserver_files())):
        for source in files:
            _copy_private(source, target / source.name)
        target.chmod(0o700)
    for stale in (old.ca_key, old.apiserver_client_cert, old.apiserver_client_key):
        stale.unlink(missing_ok=True)
    return etcd_ca


def _etcd_peers(etcd_ca: Path) -> None:
    """Each HA member's own peer certificate, into its volume (when mounted here)."""
    for member in ETCD_MEMBERS:
        target = STATE / f"{member}-peer"
        if target.is_dir():
            pki.ensure_etcd_peer_certificate(etcd_ca, (member,), target, member)


def _loadbalancer(ca_dir: Path) -> None:
    """HAProxy's configuration (HA layout): the launcher's, with the apiservers found through
    Docker's DNS (a restarted container may get another address) and /healthz for compose."""
    target = STATE / "loadbalancer"
    if not target.is_dir():
        return
    text = loadbalancer.render(
        loadbalancer.Settings(
            bind=("0.0.0.0", 6443),
            servers=[(name, name, 6443) for name in APISERVERS],
            ca_file=Path(LOADBALANCER_DIR) / "ca.crt",
            stats_socket=Path("/var/lib/haproxy/admin.sock"),
            # as `minik8s up --control-plane 3`: ride out an etcd leader election
            fall=3,
            check_timeout="2s",
            resolver=("127.0.0.11", 53),
            monitor=("127.0.0.1", 8404),
        )
    )
    _copy_private(ca_dir / "ca.crt", target / "ca.crt")
    if not (target / "haproxy.cfg").exists() or (target / "haproxy.cfg").read_text() != text:
        pki.write_private(target / "haproxy.cfg", text)


def _ha_apiservers(ca_dir: Path) -> None:
    """Each HA apiserver's volume (when mounted here): what `apiserver-creds` holds, but its own
    serving certificate and key, for its own name, `apiserver` (the load balancer's name, which
    nodes and clients dial) and the `kubernetes` Service, as kubeadm issues one per
    control-plane node (the CA, the service account keys and the encryption key are shared)."""
    shared = STATE / "apiserver"
    for name in APISERVERS:
        target = STATE / name
        if not target.is_dir():
            continue
        for source in sorted(shared.iterdir()):
            if source.is_file() and source.name not in SERVING_FILES:
                _copy_private(source, target / source.name)
        pki.ensure_apiserver_serving_certificate(
            ca_dir, (name, *HOSTS), target / "apiserver.crt", target / "apiserver.key"
        )


def main() -> None:
    port = int(os.environ.get("MINIK8S_API_PORT", "6443"))
    ca_dir = STATE / "pki"
    cert = pki.ensure_serving_certificate(ca_dir, HOSTS)
    _etcd_peers(_etcd(ca_dir))
    _loadbalancer(ca_dir)

    apiserver = STATE / "apiserver"
    pki.ensure_service_account_key(ca_dir)
    for name in ("ca.crt", "apiserver.crt", "apiserver.key", "sa.key", "sa.pub"):
        _copy_private(ca_dir / name, apiserver / name)
    encryption.ensure_config(apiserver / "encryption-config.yaml")
    audit.ensure_policy(apiserver / "audit-policy.yaml")
    pki.ensure_client_certificate(
        ca_dir,
        users.KUBELET_API_CLIENT,
        (),
        apiserver / "kubelet-client.crt",
        apiserver / "kubelet-client.key",
    )
    for component, who in COMPONENTS.items():
        identities.write_kubeconfig(
            ca_dir, SERVER, who, component, STATE / component / "kubeconfig"
        )
    dashboard.write_webhook_files(
        STATE / "dashboard" / "audit-webhook.token",
        apiserver / "audit-webhook.conf",
        AUDIT_WEBHOOK,
    )
    _ha_apiservers(ca_dir)
    # the CSR signer (the nodes' kubelet and kube-proxy certificates)
    for name in ("ca.crt", "ca.key"):
        _copy_private(ca_dir / name, STATE / "controller-manager" / name)
    admin = pki.ensure_client_certificate(
        ca_dir,
        identities.ADMIN.user,
        identities.ADMIN.groups,
        ca_dir / "admin.crt",
        ca_dir / "admin.key",
    )
    _join(ca_dir)

    if OUT.is_dir():
        host_file = OUT / "kubeconfig"
        text = identities.render(
            f"https://127.0.0.1:{port}",
            cert.ca_cert.read_bytes(),
            identities.ADMIN.user,
            admin.cert.read_bytes(),
            admin.key.read_bytes(),
        )
        pki.write_private(host_file, text)
        owner = OUT.stat()
        os.chown(host_file, owner.st_uid, owner.st_gid)
        print(f"init: wrote {host_file.name} for https://127.0.0.1:{port}", file=sys.stderr)
    print("init: credentials ready", file=sys.stderr)


if __name__ == "__main__":
    main()
