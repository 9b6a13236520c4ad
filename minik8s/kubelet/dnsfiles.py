"""Writes a pod's resolv.conf and hosts file (`dnsconfig` builds them) into its directory, and
gives the mounts that put them at /etc/resolv.conf and /etc/hosts in each app container."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from minik8s.kubelet import dnsconfig, specs
from minik8s.kubelet.config import KubeletSettings
from minik8s.kubelet.runtime import ContainerConfig, Mount

logger = logging.getLogger(__name__)

NODE_HOSTS = Path("/etc/hosts")
"""The node's hosts file, the base of a hostNetwork pod's."""

Warn = Callable[[str], None]
"""Records a `DNSConfigForming` warning about the pod."""


def write(
    pod: dict[str, Any], pod_dir: Path, pod_ip: str, settings: KubeletSettings, warn: Warn
) -> tuple[Mount, ...]:
    host = dnsconfig.HostDNS()
    if settings.resolv_conf:
        try:
            host = dnsconfig.parse_resolv_conf(Path(settings.resolv_conf).read_text())
        except OSError as e:
            logger.warning("%s: cannot read %s: %s", specs.pod_key(pod), settings.resolv_conf, e)
    resolv = dnsconfig.resolv_conf(pod, settings.cluster_dns, settings.cluster_domain, host)
    for warning in resolv.warnings:
        warn(warning)
    pod_dir.mkdir(parents=True, exist_ok=True)
    if (pod.get("spec") or {}).get("hostNetwork") is True:
        hosts = dnsconfig.host_network_hosts_file(pod, _read(NODE_HOSTS, pod))
    else:
        hosts = dnsconfig.hosts_file(pod, pod_ip, settings.cluster_domain)
    files = {"resolv.conf": resolv.render(), "etc-hosts": hosts}
    for name, content in files.items():
        tmp = pod_dir / f".{name}.tmp"
        tmp.write_text(content)
        tmp.chmod(0o644)
        tmp.replace(pod_dir / name)
    return (
        Mount(str(pod_dir / "resolv.conf"), "/etc/resolv.conf"),
        Mount(str(pod_dir / "etc-hosts"), "/etc/hosts"),
    )


def _read(path: Path, pod: dict[str, Any]) -> str:
    try:
        return path.read_text()
    except OSError as e:
        logger.warning("%s: cannot read %s: %s", specs.pod_key(pod), path, e)
        return ""


def with_files(config: ContainerConfig, mounts: tuple[Mount, ...]) -> ContainerConfig:
    """The container with the pod's resolv.conf and hosts file, unless it mounts its own."""
    taken = {m.target for m in config.mounts}
    extra = tuple(m for m in mounts if m.target not in taken)
    return dataclasses.replace(config, mounts=config.mounts + extra) if extra else config
