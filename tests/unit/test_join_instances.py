"""What `minik8s join` starts on the joining machine (pure: no process is started)."""

from __future__ import annotations

from pathlib import Path

from minik8s.cli.bootstrap.join import JoinOptions, NodeFiles, instances
from minik8s.cli.launcher.settings import LauncherSettings


def _options(tmp_path: Path, **kwargs: object) -> JoinOptions:
    return JoinOptions(
        endpoint="https://127.0.0.1:6443", token="abcdef.0123456789abcdef", ca_hashes=[],
        node_name="m1", node_ip="10.0.0.2", home=tmp_path, **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip


def _planned(options: JoinOptions) -> dict[str, list[str]]:
    settings = LauncherSettings(home=options.home)
    return {i.name: i.argv for i in instances(options, NodeFiles(options.home), settings)}


def test_kubelet_and_kube_proxy_args_reach_their_component_only(tmp_path: Path) -> None:
    options = _options(
        tmp_path,
        extra_kubelet_args=("--node-status-update-frequency=2s",),
        extra_proxy_args=("--cluster-cidr=10.245.0.0/16",),
    )
    planned = _planned(options)
    assert set(planned) == {"kubelet-m1", "proxy", "hostgw"}
    assert planned["proxy"][-1] == "--cluster-cidr=10.245.0.0/16"
    assert "--cluster-cidr=10.245.0.0/16" not in planned["kubelet-m1"]
    assert planned["kubelet-m1"][-1] == "--node-status-update-frequency=2s"
    assert "--pod-subnet-from-node" in planned["kubelet-m1"]


def test_no_proxy_and_no_pod_network_start_the_kubelet_alone(tmp_path: Path) -> None:
    planned = _planned(_options(tmp_path, proxy=False, pod_network="none"))
    assert set(planned) == {"kubelet-m1"}
    assert "--pod-subnet-from-node" not in planned["kubelet-m1"]
