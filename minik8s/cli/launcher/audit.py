"""The cluster's audit policy: every request at Metadata level (who did what to which object,
and the answer; never a body), written once to the cluster's home.

Probes are left out (the launcher and the kubelets ask for them all the time), and so is
the RequestReceived stage: each request is one ResponseComplete line (two for a watch, with
ResponseStarted), as many production policies do. Edit the file and restart the apiserver
to audit more (`level: RequestResponse` for a resource, say): `up` never overwrites it.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from minik8s import pki

POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "None", "nonResourceURLs": ["/healthz*", "/livez*", "/readyz*"]},
        {"level": "Metadata"},
    ],
}
MAX_SIZE_MB = 100
"""`--audit-log-maxsize`: the log rotates at this size ..."""
MAX_BACKUPS = 3
"""`--audit-log-maxbackup`: ... and this many rotated files are kept (400 MB at most)."""


def ensure_policy(path: Path) -> Path:
    """Write the policy unless it exists (a user's edits are kept)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pki.write_private(path, yaml.safe_dump(POLICY, sort_keys=False).encode())
    return path


def apiserver_flags(policy_file: Path, log_file: Path) -> list[str]:
    return [
        f"--audit-policy-file={policy_file}",
        f"--audit-log-path={log_file}",
        f"--audit-log-maxsize={MAX_SIZE_MB}",
        f"--audit-log-maxbackup={MAX_BACKUPS}",
    ]
