"""One real cluster for the whole conformance tier: `minik8s up --nodes 2` (Docker kubelets).

Real clients are the judges here: kubectl v1.32, the official `kubernetes` Python client and
kopf. Each test gets a namespace of its own, deleted (and awaited) when it ends.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.launcher import Launcher, make_launcher

KUBECTL_TIMEOUT = 90.0
"""Deadline of one kubectl command (rollout status and wait carry their own, shorter)."""
_namespaces = itertools.count(1)
FAST_COMPONENT_FLAGS = {
    "MINIK8S_EXTRA_ARGS_CONTROLLER_MANAGER": "--horizontal-pod-autoscaler-sync-period=2s "
    "--horizontal-pod-autoscaler-downscale-stabilization=5s",
    "MINIK8S_EXTRA_ARGS_METRICS_SERVER": "--metric-resolution=2s",
}
"""Short periods so metrics arrive and the autoscaler acts within seconds."""


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    launcher = make_launcher(tmp_path_factory.mktemp("conformance-home"))
    launcher.env.update(FAST_COMPONENT_FLAGS)
    try:
        launcher.up("--nodes", "2")
        yield launcher
    finally:
        launcher.teardown()


@dataclass
class Kubectl:
    """Runs the real kubectl against the cluster, in one namespace unless told otherwise."""

    kubeconfig: Path
    namespace: str

    @property
    def env(self) -> dict[str, str]:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        env.pop("KUBECTL_EXTERNAL_DIFF", None)
        return env

    def __call__(
        self,
        *args: str,
        check: bool = True,
        env: dict[str, str] | None = None,
        timeout: float = KUBECTL_TIMEOUT,
        input_: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["kubectl", "-n", self.namespace, *args],
            capture_output=True, text=True, timeout=timeout, env={**self.env, **(env or {})},
            input=input_,
        )  # fmt: skip
        if check:
            assert result.returncode == 0, f"kubectl {' '.join(args)} failed:\n{result.stderr}"
        return result

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            ["kubectl", "-n", self.namespace, *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env,
        )  # fmt: skip


@pytest.fixture()
def ns(cluster: Launcher) -> Iterator[str]:
    """A namespace of this test's own; deleting it (awaited) takes every object in it along."""
    name = f"conf-{os.getpid()}-{next(_namespaces)}"
    admin = Kubectl(cluster.kubeconfig, "default")
    admin("create", "namespace", name)
    yield name
    admin("delete", "namespace", name, "--timeout=60s")


@pytest.fixture()
def kubectl(cluster: Launcher, ns: str) -> Kubectl:
    return Kubectl(cluster.kubeconfig, ns)
