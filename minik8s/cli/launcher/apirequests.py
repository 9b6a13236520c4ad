"""The launcher's few requests to its own cluster's apiserver (`status`'s version, the cluster
id `down` needs), as the cluster's admin through the shared `ApiClient`."""

from __future__ import annotations

import asyncio
from typing import Any

from minik8s.api import errors
from minik8s.cli.launcher import pki, state
from minik8s.cli.launcher.settings import LauncherSettings
from minik8s.client import ApiClient, ClientConfig, ClientSettings, RetryPolicy


def admin_config(settings: LauncherSettings, cluster: state.ClusterState) -> ClientConfig | None:
    """The admin's connection to the running cluster (its client certificate); None before
    `up` wrote it."""
    files = pki.Pki(settings.pki_dir)
    if not (files.admin_cert.exists() and files.admin_key.exists()):
        return None
    return ClientConfig(
        server=cluster.apiserver_url.rstrip("/"),
        certificate_authority=str(files.ca_cert) if files.ca_cert.exists() else None,
        client_certificate=str(files.admin_cert),
        client_key=str(files.admin_key),
    )


def api_get(settings: LauncherSettings, path: str) -> dict[str, Any] | None:
    """GET `path` as the admin; None when no cluster runs or its apiserver does not answer."""
    cluster = state.load(settings.state_file)
    config = None if cluster is None else admin_config(settings, cluster)
    if config is None:
        return None
    once = ClientSettings(
        connect_timeout=settings.probe_timeout,
        request_timeout=settings.probe_timeout,
        retry=RetryPolicy(max_attempts=1),
        user_agent="minik8s-launcher/0.1",
    )

    async def get() -> Any:
        async with ApiClient(config, once) as client:
            return await client.request("GET", path)

    try:
        result = asyncio.run(get())
    except (errors.ApiError, OSError):  # the client raises ApiErrors only
        return None
    return result if isinstance(result, dict) else None
