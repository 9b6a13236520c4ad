"""What Pod Security Admission costs a pod create, in process, with the apiserver's own plugin:
a pod in an unlabelled (privileged) namespace, in a baseline-enforced one, and a compliant pod
in a restricted one with warn=restricted (every check runs twice: enforce, then warn).

    .venv/bin/python -m bench.podsecurity [--repeat 20000]

For scale: the apiserver spends ~0.9 ms of CPU per create (README, Figures).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minik8s.api.resources import PODS
from minik8s.apiserver import warning
from minik8s.apiserver.podsecurity.admission import PodSecurity

PSA = "pod-security.kubernetes.io/"
NAMESPACES: dict[str, dict[str, Any]] = {
    "open": {"metadata": {"name": "open"}},
    "baseline": {"metadata": {"name": "baseline", "labels": {PSA + "enforce": "baseline"}}},
    "restricted": {"metadata": {"name": "restricted",
                                "labels": {PSA + "enforce": "restricted",
                                           PSA + "warn": "restricted"}}},
}  # fmt: skip


def pod(namespace: str) -> dict[str, Any]:
    container = {
        "name": "web", "image": "nginx", "ports": [{"containerPort": 80}],
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    }  # fmt: skip
    security = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    return {"metadata": {"name": "web-0", "namespace": namespace, "labels": {"app": "web"}},
            "spec": {"containers": [container, {**container, "name": "sidecar"}],
                     "volumes": [{"name": "data", "emptyDir": {}}],
                     "securityContext": security}}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20_000)
    args = parser.parse_args()
    plugin = PodSecurity(namespace=NAMESPACES.get)
    warning.start()
    for name in NAMESPACES:
        body = pod(name)
        plugin.validate("CREATE", PODS, None, body, None)  # warm the per-level check lists
        started = time.perf_counter()
        for _ in range(args.repeat):
            plugin.validate("CREATE", PODS, None, body, None)
        per_call = (time.perf_counter() - started) / args.repeat
        print(f"{name:>10} namespace: {per_call * 1e6:6.1f} µs per pod create")


if __name__ == "__main__":
    main()
