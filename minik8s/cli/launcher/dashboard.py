"""The dashboard's files and `minik8s dashboard` (as `minikube dashboard`).

- The audit webhook: the apiserver POSTs its audit events, batched, to the dashboard's
  loopback endpoint, authenticated with a bearer token (the webhook kubeconfig's user, as
  Kubernetes' webhooks authenticate). The token and the kubeconfig are files of mode 0600.
- A one-time login: the user's credential (from their kubeconfig) is written for the
  dashboard to redeem once, and a URL with its code is printed (and opened, if asked).
"""

from __future__ import annotations

import secrets
from pathlib import Path

import yaml

from minik8s import pki
from minik8s.cli.launcher.settings import LauncherSettings
from minik8s.cli.launcher.state import ClusterState
from minik8s.client import kubeconfig_document
from minik8s.client.kubeconfig import load_kubeconfig
from minik8s.dashboard import grants

WEBHOOK_PATH = "/audit/webhook"
BATCH_MAX_WAIT = "200ms"
"""The live view wants events soon: a batch waits at most this long (Kubernetes: 30s)."""
THROTTLE_QPS = 50
"""Batches per second the apiserver may send (Kubernetes: 10)."""


def token_file(settings: LauncherSettings) -> Path:
    return settings.dashboard_dir / "audit-webhook.token"


def webhook_kubeconfig(settings: LauncherSettings) -> Path:
    return settings.dashboard_dir / "audit-webhook.conf"


def grant_dir(settings: LauncherSettings) -> Path:
    return settings.dashboard_dir / "grants"


def ensure_files(settings: LauncherSettings, state: ClusterState) -> None:
    """The webhook's token (kept across runs) and kubeconfig (rewritten if the port moved)."""
    settings.dashboard_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    token_path = token_file(settings)
    write_webhook_files(
        token_path, webhook_kubeconfig(settings), state.dashboard_url + WEBHOOK_PATH
    )


def write_webhook_files(token_path: Path, kubeconfig_path: Path, url: str) -> None:
    """The webhook's bearer token (made once, kept) and the apiserver's kubeconfig naming the
    dashboard's `url` with it (rewritten when it changes); both 0600."""
    if not token_path.exists():
        pki.write_private(token_path, secrets.token_urlsafe(32) + "\n")
    token = token_path.read_text().strip()
    config = kubeconfig_document(
        url, None, "apiserver", {"token": token}, cluster_name="dashboard", context_name="webhook"
    )
    text = yaml.safe_dump(config, sort_keys=False)
    if not kubeconfig_path.exists() or kubeconfig_path.read_text() != text:
        pki.write_private(kubeconfig_path, text)


def apiserver_flags(settings: LauncherSettings) -> list[str]:
    return [
        f"--audit-webhook-config-file={webhook_kubeconfig(settings)}",
        f"--audit-webhook-batch-max-wait={BATCH_MAX_WAIT}",
        f"--audit-webhook-batch-throttle-qps={THROTTLE_QPS}",
        "--audit-webhook-initial-backoff=1s",
    ]


def login_url(settings: LauncherSettings, state: ClusterState, kubeconfig: Path | None) -> str:
    """Mint a one-time login for the kubeconfig's user; the URL that redeems it."""
    config = load_kubeconfig(kubeconfig or settings.kubeconfig_file)
    code = grants.mint(grant_dir(settings), grants.Credential.from_config(config))
    return f"{state.dashboard_url}/login?code={code}"
