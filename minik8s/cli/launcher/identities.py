"""Who each process of a cluster is: one client certificate and kubeconfig per component.

The user names are Kubernetes' (the apiserver's bootstrap policy binds them to their roles):

    component               user                              groups
    scheduler               system:kube-scheduler
    controller-manager      system:kube-controller-manager
    kubelet (per node)      system:node:<node>                system:nodes
    proxy                   system:kube-proxy
    dns                     system:kube-dns
    addon-manager           system:kube-addon-manager         (compose)
    cloud-controller-manager  system:cloud-controller-manager
    dashboard               system:kube-dashboard
    metrics-server          system:metrics-server
    (the user)              kubernetes-admin                  system:masters  (kubeadm's admin)

A new component is one line in `COMPONENT_USERS`. Files live under the cluster's home, mode
0600: `pki/<name>.crt|.key` and `kubeconfigs/<name>.conf` (certificate and key embedded, as
kubeadm writes them); the admin's is the user's `kubeconfig`.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

import yaml

from minik8s import pki
from minik8s.api import users
from minik8s.cli.launcher.settings import LauncherSettings
from minik8s.client import kubeconfig_document

CONTEXT = "minik8s"


@dataclass(frozen=True)
class Identity:
    user: str
    groups: tuple[str, ...] = ()


COMPONENT_USERS: dict[str, Identity] = {
    "scheduler": Identity(users.KUBE_SCHEDULER),
    "controller-manager": Identity(users.KUBE_CONTROLLER_MANAGER),
    "proxy": Identity(users.KUBE_PROXY),
    "dns": Identity(users.KUBE_DNS),
    "addon-manager": Identity(users.KUBE_ADDON_MANAGER),
    "cloud-controller-manager": Identity(users.CLOUD_CONTROLLER_MANAGER),
    "dashboard": Identity(users.KUBE_DASHBOARD),
    "metrics-server": Identity(users.METRICS_SERVER),
}
"""Component -> its user (per-node components: see `identity`)."""

ADMIN = Identity(users.ADMIN, (users.SYSTEM_PRIVILEGED_GROUP,))
KUBELET_CLIENT = Identity(users.KUBELET_API_CLIENT)
"""The apiserver's certificate towards kubelets (bound to system:kubelet-api-admin)."""


def identity(component: str, node: str | None = None) -> Identity:
    """The user a component (on `node`, for per-node ones) runs as."""
    if component == "kubelet":
        assert node is not None
        return Identity(users.node_user(node), (users.NODES_GROUP,))
    return COMPONENT_USERS[component]


def file_stem(component: str, node: str | None = None) -> str:
    return f"{component}-{node}" if node else component


def render(server: str, ca_pem: bytes, user: str, cert_pem: bytes, key_pem: bytes) -> str:
    """A kubeconfig with the CA, and the client certificate and key embedded."""
    credentials = {
        "client-certificate-data": base64.b64encode(cert_pem).decode(),
        "client-key-data": base64.b64encode(key_pem).decode(),
    }
    document = kubeconfig_document(
        server, ca_pem, user, credentials, cluster_name=CONTEXT, context_name=CONTEXT
    )
    return yaml.safe_dump(document, sort_keys=False)


def write_kubeconfig(pki_dir: Path, server: str, who: Identity, stem: str, out: Path) -> pki.Issued:
    """Issue (once) `who`'s certificate as `pki_dir/<stem>.crt|.key` and write `out`."""
    issued = pki.ensure_client_certificate(
        pki_dir, who.user, who.groups, pki_dir / f"{stem}.crt", pki_dir / f"{stem}.key"
    )
    text = render(
        server,
        (pki_dir / "ca.crt").read_bytes(),
        who.user,
        issued.cert.read_bytes(),
        issued.key.read_bytes(),
    )
    if not out.exists() or out.read_text() != text:
        pki.write_private(out, text)
    return issued


def component_kubeconfig(settings: LauncherSettings, component: str, node: str | None) -> Path:
    return settings.home / "kubeconfigs" / f"{file_stem(component, node)}.conf"


def ensure_component(
    settings: LauncherSettings, server: str, component: str, node: str | None = None
) -> Path:
    """The component's kubeconfig, written (with its certificate) unless it is current."""
    out = component_kubeconfig(settings, component, node)
    write_kubeconfig(
        settings.pki_dir, server, identity(component, node), file_stem(component, node), out
    )
    return out


def ensure_admin(settings: LauncherSettings, server: str) -> pki.Issued:
    """The user's kubeconfig (`kubernetes-admin` in `system:masters`, as kubeadm's admin.conf)."""
    return write_kubeconfig(settings.pki_dir, server, ADMIN, "admin", settings.kubeconfig_file)


def ensure_kubelet_client(settings: LauncherSettings) -> pki.Issued:
    """The apiserver's client certificate towards kubelets."""
    return pki.ensure_client_certificate(
        settings.pki_dir,
        KUBELET_CLIENT.user,
        KUBELET_CLIENT.groups,
        settings.pki_dir / "apiserver-kubelet-client.crt",
        settings.pki_dir / "apiserver-kubelet-client.key",
    )


def ensure_kubelet_serving(settings: LauncherSettings, node: str, host: str) -> pki.Issued:
    """Node `node`'s kubelet serving certificate (for its name and `host`)."""
    return pki.ensure_kubelet_serving_certificate(
        settings.pki_dir,
        node,
        [host],
        settings.pki_dir / f"kubelet-{node}-serving.crt",
        settings.pki_dir / f"kubelet-{node}-serving.key",
    )
