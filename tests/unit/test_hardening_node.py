"""The pure parts of "pods must not reach the host": securityContext → Docker options, probe
URLs, subPath resolution, Pod Security levels and checks, NodePort rules, node lock."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from minik8s.apiserver.podsecurity import checks, config
from minik8s.apiserver.podsecurity.levels import (
    LATEST,
    Level,
    LevelVersion,
    Policy,
    Version,
    policy_to_evaluate,
)
from minik8s.componentbase.runner import StartupError
from minik8s.kubelet import nodelock, securitycontext, specs, subpath
from minik8s.kubelet.config import KubeletSettings
from minik8s.kubelet.configerror import ConfigError
from minik8s.kubelet.podworkers import PodWorkers
from minik8s.kubelet.probes import probe_headers, probe_url
from minik8s.kubelet.runtime import PullError, SecurityOptions
from minik8s.kubelet.runtime.fake import FakeRuntime
from minik8s.proxy import iptables, rules


def pod(spec: dict[str, Any] | None = None, **container: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
            "spec": {"containers": [{"name": "c", "image": "img", **container}],
                     **(spec or {})}}  # fmt: skip


def options(p: dict[str, Any], image_user: str = "", **kw: Any) -> SecurityOptions:
    container = p["spec"]["containers"][0]
    return securitycontext.container_options(
        p, container, image_user, seccomp_default=kw.get("seccomp_default", True),
        selinux_enabled=False, read_profile=lambda name: f'{{"profile": "{name}"}}',
    )  # fmt: skip


# --- securityContext -------------------------------------------------------------------------


def test_security_context_becomes_docker_options() -> None:
    p = pod({"securityContext": {"runAsUser": 1000, "runAsGroup": 3000, "fsGroup": 2000,
                                 "supplementalGroups": [4000],
                                 "seccompProfile": {"type": "Localhost",
                                                    "localhostProfile": "p.json"}}},
            securityContext={"runAsUser": 1001, "allowPrivilegeEscalation": False,
                             "readOnlyRootFilesystem": True, "procMount": "Unmasked",
                             "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
                             "appArmorProfile": {"type": "Unconfined"}})  # fmt: skip
    got = options(p)
    assert got.user == "1001:3000"  # the container's runAsUser, the pod's runAsGroup
    assert got.group_add == ("2000", "4000")
    assert got.cap_add == ("CAP_NET_ADMIN",) and got.cap_drop == ("ALL",)
    assert got.read_only and not got.privileged
    assert got.security_opt == ('no-new-privileges', 'seccomp={"profile": "p.json"}',
                                "apparmor=unconfined", "systempaths=unconfined")  # fmt: skip


def test_seccomp_defaults_and_unconfined() -> None:
    assert options(pod()).security_opt == ()
    assert options(pod(), seccomp_default=False).security_opt == ("seccomp=unconfined",)
    unconfined = pod(securityContext={"seccompProfile": {"type": "Unconfined"}})
    assert options(unconfined).security_opt == ("seccomp=unconfined",)
    assert options(pod(securityContext={"runAsGroup": 5}), "nobody").user == "nobody:5"


@pytest.mark.parametrize(
    ("spec", "container", "image_user", "message"),
    [
        ({}, {"runAsNonRoot": True}, "",
         'container has runAsNonRoot and image will run as root (pod: "p_ns(u1)", container: c)'),
        ({"securityContext": {"runAsNonRoot": True}}, {}, "0:0",
         "image will run as root"),
        ({}, {"runAsNonRoot": True}, "nginx",
         "container has runAsNonRoot and image has non-numeric user (nginx), cannot verify user "
         'is non-root (pod: "p_ns(u1)", container: c)'),
        ({}, {"runAsNonRoot": True, "runAsUser": 0}, "1000",
         "container's runAsUser breaks non-root policy"),
        ({}, {"seLinuxOptions": {"type": "spc_t"}}, "", "SELinux is not enabled on this node"),
        ({}, {"windowsOptions": {"hostProcess": True}}, "", "this is a Linux node"),
    ],
)  # fmt: skip
def test_what_cannot_be_honoured_is_refused(
    spec: dict[str, Any], container: dict[str, Any], image_user: str, message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        options(pod(spec, securityContext=container), image_user)
    assert message in str(raised.value)


def test_the_image_user_is_looked_up_only_when_it_matters() -> None:
    assert not securitycontext.needs_image_user(pod(), pod()["spec"]["containers"][0])
    for context in ({"runAsNonRoot": True}, {"runAsGroup": 5}):
        p = pod({"securityContext": context})
        assert securitycontext.needs_image_user(p, p["spec"]["containers"][0])
    p = pod(securityContext={"runAsNonRoot": True, "runAsUser": 7})
    assert not securitycontext.needs_image_user(p, p["spec"]["containers"][0])


def test_run_as_non_root_passes_with_a_numeric_non_root_user() -> None:
    assert options(pod(securityContext={"runAsNonRoot": True}), "1000:1000").user is None
    with pytest.raises(ConfigError, match="user namespace"):
        securitycontext.check_pod_supported(pod({"hostUsers": False}), False)


def test_sandbox_owns_host_namespaces_ports_and_sysctls() -> None:
    p = pod({"hostPID": True, "hostIPC": True,
             "securityContext": {"sysctls": [{"name": "net.ipv4.tcp_syncookies", "value": "1"}]}},
            ports=[{"containerPort": 80, "hostPort": 8080, "protocol": "TCP"}])  # fmt: skip
    sandbox = specs.sandbox_config(p, "n", 0, "pause", "minik8s")
    assert (sandbox.pid_mode, sandbox.ipc_mode) == ("host", "host")
    assert sandbox.sysctls == {"net.ipv4.tcp_syncookies": "1"}
    assert sandbox.port_bindings == {"80/tcp": ("", 8080)}
    assert sandbox.security == SecurityOptions(
        cap_drop=("ALL",), security_opt=("no-new-privileges",)
    )
    host = specs.sandbox_config(pod({"hostNetwork": True}), "n", 0, "pause", "minik8s")
    assert host.network_mode == "host" and host.network is None and host.hostname is None
    assert specs.namespace_modes(pod({"shareProcessNamespace": True}), "s") == (
        "container:s", "container:s", "container:s")  # fmt: skip


def test_kubelet_written_volumes_are_mounted_read_only_and_subpaths_never_joined() -> None:
    volumes = [{"name": "cm", "configMap": {"name": "x"}}, {"name": "e", "emptyDir": {}}]
    mounts = [{"name": "cm", "mountPath": "/cm"}, {"name": "e", "mountPath": "/e", "subPath": "x"}]
    p = pod({"volumes": volumes}, volumeMounts=mounts)
    container = p["spec"]["containers"][0]
    paths = {"cm": "/v/cm", "e": "/v/e"}
    with pytest.raises(ConfigError, match="was not prepared"):
        specs.mounts(container, paths, specs.read_only_volumes(p))
    mounts = specs.mounts(container, paths, specs.read_only_volumes(p), {1: "/pinned"})
    assert [(m.source, m.read_only) for m in mounts] == [("/v/cm", True), ("/pinned", False)]
    expr = {"name": "e", "mountPath": "/e", "subPathExpr": "$(POD)/logs"}
    assert specs.sub_path(container, expr, {"POD": "web-0"}) == "web-0/logs"


# --- subPath ---------------------------------------------------------------------------------


def test_subpath_symlinks_out_of_the_volume_are_refused(tmp_path: Path) -> None:
    volume = tmp_path / "volume"
    (volume / "inside").mkdir(parents=True)
    (volume / "link-in").symlink_to("inside")
    (volume / "link-out").symlink_to("/etc")
    (volume / "rel-out").symlink_to("../../..")
    assert subpath.resolve_within(volume, "link-in") == volume / "inside"
    for name in ("link-out", "rel-out", "link-out/passwd", "rel-out/x"):
        with pytest.raises(ConfigError, match="not within volume path"):
            subpath.resolve_within(volume, name)
    with pytest.raises(ConfigError, match="relative path without"):
        subpath.resolve_within(volume, "../x")
    # a component swapped for a symlink after the check is not followed
    target = subpath.resolve_within(volume, "inside/new/dir")
    fd = subpath.open_beneath(volume.resolve(), target, create=True)
    os.close(fd)
    assert (volume / "inside" / "new" / "dir").is_dir()
    (volume / "inside" / "new" / "dir").rmdir()
    (volume / "inside" / "new").rmdir()
    (volume / "inside" / "new").symlink_to("/tmp")
    with pytest.raises(ConfigError, match="not within its volume"):
        subpath.open_beneath(volume.resolve(), target, create=True)
    assert subpath.prepare(tmp_path, "v", "c", 0, volume, "inside", pin=False) == str(
        (volume / "inside").resolve()
    )


# --- probes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "url"),
    [
        ("/healthz", "http://10.0.0.1:8080/healthz"),
        ("@169.254.169.254/latest/meta-data", "http://10.0.0.1:8080/@169.254.169.254/latest/meta-data"),
        ("//evil.example/x", "http://10.0.0.1:8080//evil.example/x"),
        ("healthz?full=1#frag", "http://10.0.0.1:8080/healthz?full=1"),
    ],
)  # fmt: skip
def test_probe_urls_are_built_from_parts(path: str, url: str) -> None:
    built = probe_url("http", "10.0.0.1", 8080, path)
    assert str(built) == url and built.host == "10.0.0.1" and built.port == 8080


def test_probe_headers_default_and_host_override() -> None:
    assert probe_headers({}) == {"User-Agent": "kube-probe/1.32", "Accept": "*/*"}
    given = probe_headers({"httpHeaders": [{"name": "Host", "value": "app.example"},
                                           {"name": "accept", "value": "text/plain"}]})  # fmt: skip
    assert given == {"User-Agent": "kube-probe/1.32", "Host": "app.example", "accept": "text/plain"}


# --- Pod Security ----------------------------------------------------------------------------


def test_policy_from_labels() -> None:
    p = "pod-security.kubernetes.io/"
    policy, causes = policy_to_evaluate({p + "enforce": "baseline"}, Policy())
    assert causes == [] and policy.enforce == LevelVersion(Level.BASELINE, LATEST)
    assert policy.warn == policy.enforce  # warn follows a stricter enforce label
    policy, causes = policy_to_evaluate(
        {p + "enforce": "nope", p + "warn": "nope", p + "audit-version": "v2.0"}, Policy()
    )
    assert policy.enforce.level is Level.RESTRICTED and policy.warn.level is Level.PRIVILEGED
    assert [c.field for c in causes] == [f"metadata.labels[{p}enforce]",
                                         f"metadata.labels[{p}audit-version]",
                                         f"metadata.labels[{p}warn]"]  # fmt: skip
    versioned, _ = policy_to_evaluate({p + "enforce": "restricted",
                                       p + "enforce-version": "v1.24"}, Policy())  # fmt: skip
    assert str(versioned.enforce) == "restricted:v1.24" and str(versioned.warn) == str(
        versioned.enforce
    )


def test_restricted_checks_by_version() -> None:
    evaluator = checks.Evaluator()
    plain = pod()
    latest = evaluator.evaluate(Level.RESTRICTED, LATEST, plain["metadata"], plain["spec"])
    assert [r.reason for r in latest] == ["allowPrivilegeEscalation != false",
                                          "unrestricted capabilities", "runAsNonRoot != true",
                                          "seccompProfile"]  # fmt: skip
    old = evaluator.evaluate(Level.RESTRICTED, Version(1, 7), plain["metadata"], plain["spec"])
    assert [r.reason for r in old] == ["runAsNonRoot != true"]  # nothing else existed in v1.7
    windows = pod({"os": {"name": "windows"}})
    assert [r.reason for r in evaluator.evaluate(Level.RESTRICTED, LATEST, {}, windows["spec"])
            ] == ["runAsNonRoot != true"]  # fmt: skip


def test_forbidden_detail_joins_reasons_and_details() -> None:
    failed = [checks.Result(False, "host namespaces", "hostPID=true"),
              checks.Result(False, "odd", "")]  # fmt: skip
    assert checks.forbidden_detail(failed) == "host namespaces (hostPID=true), odd"


def test_admission_configuration(tmp_path: Path) -> None:
    path = tmp_path / "admission.yaml"
    path.write_text(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n"
        "- name: PodSecurity\n  configuration:\n"
        "    apiVersion: pod-security.admission.config.k8s.io/v1\n"
        "    kind: PodSecurityConfiguration\n"
        "    defaults: {enforce: baseline, warn: restricted, warn-version: v1.30}\n"
        "    exemptions: {namespaces: [kube-system], usernames: [admin]}\n"
    )
    loaded = config.load(str(path))
    assert str(loaded.defaults.enforce) == "baseline:latest"
    assert str(loaded.defaults.warn) == "restricted:v1.30"
    assert loaded.exemptions.namespaces == {"kube-system"}
    path.write_text(path.read_text().replace("enforce: baseline", "enforce: high"))
    with pytest.raises(config.ConfigError, match=r"defaults\.enforce"):
        config.load(str(path))


# --- kube-proxy ------------------------------------------------------------------------------


def test_nodeport_addresses_restrict_the_nodeports_jump() -> None:
    assert rules.nodeports_jumps(None)[0].endswith("-m addrtype --dst-type LOCAL -j "
                                                   "MINIK8S-NODEPORTS")  # fmt: skip
    assert [r.split('" ', 1)[1] for r in rules.nodeports_jumps(("127.0.0.1",))] == [
        "-d 127.0.0.1/32 -j MINIK8S-NODEPORTS"
    ]


def test_firewall_is_installed_before_route_localnet(tmp_path: Path) -> None:
    calls: list[str] = []

    class Recording(iptables.Host):
        async def run(self, *argv: str, stdin: str | None = None, check: bool = True) -> str:
            calls.append(argv[0] + (" " + argv[1] if argv[0] == "iptables" else ""))
            if argv[:3] == ("ip", "-j", "route"):
                return "[]"
            if argv[0] == "iptables":
                raise iptables.IptablesError("no such rule")
            return ""

        def set_sysctls(self) -> None:
            calls.append("sysctls")
            super().set_sysctls()

    sysctl = tmp_path / "net/ipv4/conf/all/route_localnet"
    sysctl.parent.mkdir(parents=True)
    sysctl.write_text("0\n")
    host = Recording("10.96.0.0/16", state_file=tmp_path / "state.json", proc_sys=tmp_path)
    asyncio.run(host.prepare())
    assert calls.index("iptables-restore") < calls.index("sysctls")
    assert sysctl.read_text() == "1"
    calls.clear()
    asyncio.run(Recording("10.96.0.0/16", localnet=False, state_file=tmp_path / "s2.json",
                          proc_sys=tmp_path).prepare())  # fmt: skip
    assert "iptables-restore" not in calls


# --- node lock -------------------------------------------------------------------------------


def test_a_second_kubelet_for_the_node_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "kubelet.lock"
    held = nodelock.acquire(path, "node-1")
    try:
        expected = (
            f'node "node-1" is already run by another kubelet of this cluster \\(pid {os.getpid()}'
        )
        with pytest.raises(StartupError, match=expected):
            nodelock.acquire(path, "node-1")
    finally:
        held.close()
    nodelock.acquire(path, "node-1").close()  # free again once the first one is gone


# --- the registry-unreachable fallback -------------------------------------------------------


class _Unreachable(FakeRuntime):
    async def pull_image(self, image: str, auth: dict[str, str] | None = None) -> str:
        raise PullError("dial tcp: lookup registry: no such host", unreachable=True)


class _Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def record(self, obj: object, kind: str, reason: str, message: str) -> None:
        self.events.append((reason, message))


@pytest.mark.parametrize("fallback", [False, True])
async def test_the_local_image_stands_in_for_always_only_with_the_flag(fallback: bool) -> None:
    settings = KubeletSettings("n1", image_pull_fallback_to_local=fallback)
    recorder = _Recorder()
    workers = PodWorkers(settings, None, _Unreachable(), recorder, None)  # type: ignore[arg-type]
    p = pod(imagePullPolicy="Always")
    reason = await workers._ensure_image(p, p["spec"]["containers"][0], {})
    if fallback:
        assert reason is None
        assert [r for r, _ in recorder.events] == ["PullUnreachableUsingLocal"]
    else:
        assert reason is not None and reason[0] == "ErrImagePull"
        assert [r for r, _ in recorder.events] == ["Failed"]
    await workers.close()
