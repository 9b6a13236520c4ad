"""What `minik8s status` says about a control plane of several members: which etcd member
leads, which apiservers the load balancer sends clients to, and which replica of each
leader-elected component holds its Lease."""

from __future__ import annotations

import re
import ssl

import httpx

from minik8s.cli.launcher import apirequests, components, loadbalancer, pki
from minik8s.cli.launcher.settings import LauncherSettings
from minik8s.cli.launcher.state import ClusterState

LEADER_LEASES = {
    "scheduler": "minik8s-scheduler",
    "controller-manager": "minik8s-controller-manager",
    "cloud-controller-manager": "cloud-controller-manager",
}
"""Leader-elected component -> its Lease in kube-system (their `--leader-elect-resource-name`
defaults)."""

_IS_LEADER = re.compile(r"^etcd_server_is_leader\s+(\S+)$", re.MULTILINE)


def roles(settings: LauncherSettings, cluster: ClusterState) -> dict[str, str]:
    """Process name -> its role: `leader`/`follower` (etcd), `lb: UP`/`lb: DOWN` (apiservers),
    `leader`/`standby` (schedulers, controller-managers, cloud controllers)."""
    if not cluster.highly_available:
        return {}
    found: dict[str, str] = {}
    for member in range(1, len(cluster.etcd_members) + 1):
        leads = etcd_is_leader(settings, cluster.etcd_client_url(member))
        if leads is not None:
            found[f"etcd-{member}"] = "leader" if leads else "follower"
    for server in loadbalancer.query_stats(settings.loadbalancer_socket) or []:
        found[server.name] = f"lb: {server.status}"
    for component, lease in LEADER_LEASES.items():
        holder = lease_holder(settings, lease)
        if holder is None:
            continue
        for replica in components.node_names(cluster, components.PerNode.STANDBY):
            name = f"{component}-{replica}"
            found[name] = "leader" if holder and holds(settings, name, holder) else "standby"
    return found


def etcd_is_leader(settings: LauncherSettings, client_url: str) -> bool | None:
    """Whether the member at `client_url` leads (its /metrics), None when it does not answer."""
    certs = pki.etcd(settings.pki_dir)
    try:
        context = ssl.create_default_context(cafile=str(certs.ca_cert))
        context.load_cert_chain(str(certs.apiserver_client_cert), str(certs.apiserver_client_key))
        response = httpx.get(
            f"{client_url}/metrics", timeout=settings.probe_timeout, verify=context
        )
    except (httpx.HTTPError, OSError):
        return None
    match = _IS_LEADER.search(response.text) if response.status_code == 200 else None
    return None if match is None else float(match.group(1)) == 1.0


def lease_holder(settings: LauncherSettings, lease: str) -> str | None:
    """The Lease's holderIdentity ("" when nobody holds it), None if it cannot be read."""
    found = apirequests.api_get(
        settings, f"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{lease}"
    )
    if found is None:
        return None
    return str((found.get("spec") or {}).get("holderIdentity") or "")


def holds(settings: LauncherSettings, name: str, holder: str) -> bool:
    """True if the running process `name` campaigned as `holder` (the identity is
    `hostname_uuid`, new in each process)."""
    try:
        text = settings.log_file(name).read_text(errors="replace")[-200_000:]
    except OSError:
        return False
    identity = campaign_identity(text)
    return bool(identity) and identity == holder


_STARTED = re.compile(r"^=== .* minik8s up: ", re.MULTILINE)
"""The line `minik8s up` writes to a component's log before it starts the process."""
_CAMPAIGNING = re.compile(r"campaigning for lease \S+ as (\S+)")


def campaign_identity(log: str) -> str:
    """The identity the latest process in `log` campaigns as, "" if it has not campaigned yet.

    Logs are appended across restarts: lines before the last start marker belong to processes
    that are gone, and a restarted replica logs its identity a moment after it starts (slower
    under load), so an older process's identity must not be taken for its."""
    starts = list(_STARTED.finditer(log))
    current = log[starts[-1].end() :] if starts else log
    campaigns = _CAMPAIGNING.findall(current)
    return campaigns[-1] if campaigns else ""
