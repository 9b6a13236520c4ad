"""Pod workers: each pod (by uid) is synced by one worker at a time, different pods in parallel.

A sync reads the pod's containers from the runtime, asks `actions.compute` what to do, does it
(sandbox, image pulls, init and app containers with their postStart hooks, kills with
preStop hooks, garbage collection), then computes the status and hands it to the status
manager. A pod with a deletionTimestamp is stopped within its grace period (sidecars last),
gets its final status (a terminal phase) and is then deleted with grace 0; containers of a
pod the API no longer has are removed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Callable
from pathlib import Path

from minik8s.api import errors, meta, podutil, times
from minik8s.api.meta import Object
from minik8s.api.resources import PODS
from minik8s.client import tasks
from minik8s.client.api import ApiClient
from minik8s.client.workqueue import ExponentialBackoffRateLimiter, WorkQueue
from minik8s.componentbase.events import EventRecorder
from minik8s.kubelet import (
    actions,
    dnsfiles,
    downward,
    envfrom,
    envvars,
    hooks,
    init_plan,
    killing,
    metrics,
    node,
    pullsecrets,
    pvcvolumes,
    secretvolumes,
    securitycontext,
    specs,
    subpath,
    terminationlog,
    volumes,
)
from minik8s.kubelet import status as podstatus
from minik8s.kubelet.backoff import Backoff
from minik8s.kubelet.config import KubeletSettings
from minik8s.kubelet.configerror import MountError
from minik8s.kubelet.objectcache import ObjectCache
from minik8s.kubelet.probes import Kind, ProbeManager
from minik8s.kubelet.runtime import (
    LABEL_NODE,
    LABEL_POD_UID,
    Container,
    PullError,
    Runtime,
    RuntimeError_,
    SecurityOptions,
    State,
)
from minik8s.kubelet.statusmanager import StatusManager
from minik8s.kubelet.tokenmanager import TokenManager

logger = logging.getLogger(__name__)

SELINUX_ENFORCE = Path("/sys/fs/selinux/enforce")
RESYNC_JITTER = 0.5


def _created_at(pod: Object) -> float | None:
    return times.parse_timestamp(meta.meta(pod).get("creationTimestamp"))


def needs_sync(old: Object, new: Object) -> bool:
    """A change the worker must act on (not just the status it wrote itself)."""
    if old is new:
        return True  # an informer's resync (the kubelet's pods resync on their own: `_sync_pod`)
    om, nm = old.get("metadata") or {}, new.get("metadata") or {}
    return (
        old.get("spec") != new.get("spec")
        or om.get("deletionTimestamp") != nm.get("deletionTimestamp")
        or om.get("deletionGracePeriodSeconds") != nm.get("deletionGracePeriodSeconds")
        or om.get("uid") != nm.get("uid")
    )


class PodWorkers:
    def __init__(
        self,
        settings: KubeletSettings,
        client: ApiClient,
        runtime: Runtime,
        recorder: EventRecorder,
        status_manager: StatusManager,
        services: Callable[[], list[Object]] = list,
    ) -> None:
        self.settings = settings
        self.services = services
        """The Services the informer holds (for the containers' Service variables)."""
        self.client = client
        self.runtime = runtime
        self.recorder = recorder
        self.status_manager = status_manager
        self.node = settings.node_name
        self.pods: dict[str, Object] = {}
        """Pods of this node by uid, as the informer last saw them."""
        self.queue = WorkQueue(ExponentialBackoffRateLimiter(0.5, 30.0), name="pod-workers")
        self.crash_backoff = Backoff(settings.backoff_base, settings.backoff_cap)
        self.pull_backoff = Backoff(settings.backoff_base, settings.backoff_cap)
        self._pull_failed_at: dict[str, float] = {}
        self._pull_errors: dict[str, str] = {}
        """The last pull error of each container, shown while its pull backs off (Kubernetes'
        `prevPullErrMsg`, 1.32: `Back-off pulling image "x": ErrImagePull: <error>`)."""
        self._started_reported: set[str] = set()
        self._last_known: dict[str, Object] = {}
        """Pods deleted from the API whose containers are still to be removed."""
        self.probes = ProbeManager(runtime, self.queue.add, always_succeed=runtime.name == "fake")
        self.objects = ObjectCache(client, self.queue.add)
        """The Secrets and ConfigMaps the pods use, watched: a change syncs their pods."""
        self.tokens = TokenManager(client)
        self.api_volumes = secretvolumes.ApiVolumes(
            self.objects, self.tokens, use_tmpfs=runtime.name != "fake" and os.geteuid() == 0
        )
        self.hooks = hooks.HookRunner(runtime, hollow=runtime.name == "fake")
        self.killer = killing.Killer(runtime, self.hooks, recorder)
        self.messages = terminationlog.TerminationMessages(runtime, settings.pods_dir)
        self.allocatable = node.machine_capacity(settings)
        """The node's resources: the downward API's value of a limit that is not set."""
        self._post_starts: dict[str, asyncio.Task[str | None]] = {}
        """A pod's postStart hook in progress, cancelled when the pod is being deleted."""
        self._selinux = SELINUX_ENFORCE.exists()
        self._starting: dict[str, metrics.StepTimer] = {}
        """Pods seen but not yet given a status by this kubelet: their first sync's steps."""

    # --- informer handlers -----------------------------------------------------------------

    def on_add(self, pod: Object) -> None:
        uid = specs.pod_uid(pod)
        self.pods[uid] = pod
        if not (pod.get("status") or {}).get("startTime") and uid not in self._starting:
            self._starting[uid] = _first_sight(pod)
        self.objects.register(pod)
        self.queue.add(uid)

    def on_update(self, old: Object, new: Object) -> None:
        uid = specs.pod_uid(new)
        if specs.pod_uid(old) != uid:
            self.on_delete(old)
        self.pods[uid] = new
        if meta.is_deleting(new):
            self._interrupt_post_start(uid)
        if needs_sync(old, new):
            self.objects.register(new)
            self.queue.add(uid)
        elif self.status_manager.needs_reconcile(new):
            self.queue.add(uid)

    def on_delete(self, pod: Object) -> None:
        uid = specs.pod_uid(pod)
        self.pods.pop(uid, None)
        self._last_known[uid] = pod
        self._interrupt_post_start(uid)
        self.queue.add(uid)

    def _interrupt_post_start(self, uid: str) -> None:
        """A pod being deleted does not wait for a postStart hook (Kubernetes cancels it)."""
        task = self._post_starts.get(uid)
        if task is not None:
            task.cancel()

    # --- the sync --------------------------------------------------------------------------

    async def sync(self, uid: str) -> None:
        started = time.perf_counter()
        pod = self.pods.get(uid)
        timer = self._starting.get(uid)
        if timer is not None and timer.last == timer.seen:
            metrics.POD_WORKER_START.observe(max(0.0, time.time() - timer.seen))
            timer.mark("queue")
        with metrics.runtime_op("list_containers"):
            containers = await self.runtime.list_containers(
                {LABEL_NODE: self.node, LABEL_POD_UID: uid}
            )
        if pod is None:
            await self._remove_pod(uid, containers)
            metrics.POD_SYNCS.labels("remove").observe(time.perf_counter() - started)
            return
        if meta.is_deleting(pod):
            await self._terminate(pod, containers)
            metrics.POD_SYNCS.labels("terminate").observe(time.perf_counter() - started)
            return
        await self._sync_pod(pod, containers)
        metrics.POD_SYNCS.labels("sync").observe(time.perf_counter() - started)

    async def _sync_pod(self, pod: Object, containers: list[Container]) -> None:
        uid = specs.pod_uid(pod)
        now = time.time()
        plan = actions.compute(
            pod,
            containers,
            self.crash_backoff,
            now,
            self.probes.liveness_failed(uid),
            self.probes.results(uid, Kind.STARTUP),
        )
        sandboxes = [c for c in containers if c.is_sandbox and c.state is State.RUNNING]
        if plan.kill:
            ip = self._pod_ip(pod, sandboxes[-1]) if sandboxes else ""
            await self._kill(pod, containers, plan.kill, specs.grace_period(pod), ip)
        if plan.stop_sandbox or plan.create_sandbox:
            for old in sandboxes:
                await self._stop(pod, old, "pod finished" if plan.terminal else "replaced")
        sandbox = sandboxes[-1] if sandboxes and not plan.create_sandbox else None
        waiting: dict[str, tuple[str, str]] = dict(plan.waiting)
        requeue = plan.requeue_after
        if plan.create_sandbox:
            sandbox = await self._run_sandbox(pod, plan.sandbox_attempt)
            self._mark(uid, "sandbox")
            if sandbox is None:
                requeue = 2.0
        if sandbox is not None and plan.start:
            requeue = _earliest(requeue, await self._start_containers(pod, sandbox, plan, waiting))
        if sandbox is not None and not plan.start and not plan.terminal:
            requeue = _earliest(requeue, await self._refresh_volumes(pod, sandbox))
        for cid in plan.remove:
            with metrics.runtime_op("remove_container"):
                await self.runtime.remove(cid)
        if plan.kill or plan.start or plan.create_sandbox or plan.remove or plan.stop_sandbox:
            with metrics.runtime_op("list_containers"):
                containers = await self.runtime.list_containers(
                    {LABEL_NODE: self.node, LABEL_POD_UID: uid}
                )
        seen = self.status_manager.latest(pod)  # the status the one written derives from
        if plan.start and not plan.terminal:
            seen, containers = await self._finish_at_once(seen, containers, now, waiting)
        running = {
            c.container_name: (c.id, c.started_at or now)
            for c in containers
            if not c.is_sandbox and c.state is State.RUNNING
        }
        sandbox_ip = next(
            (
                c.ip
                for c in reversed(actions.by_name(containers).get("POD", []))
                if c.state is State.RUNNING and c.ip
            ),
            "",
        )
        if podstatus.host_network(pod) and sandbox_ip == "":
            sandbox_ip = self.settings.node_ip if running else ""
        self.probes.sync(pod, running, sandbox_ip or "")
        status = podstatus.compute(seen, containers, await self._view(pod, containers, waiting))
        self._mark(uid, "containers")
        if await self.status_manager.set(pod, status):
            self._mark(uid, "status_write")
            self._starting.pop(uid, None)
        self._observe_start(pod, status)
        resync = self._resync_delay()
        self.queue.add_after(uid, resync if requeue is None else min(requeue, resync))

    def _resync_delay(self) -> float:
        """When to sync a pod again when nothing happens: each pod on its own jittered period
        (Kubernetes' pod workers requeue a pod after `wait.Jitter(resyncInterval, 0.5)`), never
        all of the node's pods at once, which would hold a new pod in the queue behind them.
        Something due earlier (a backoff, the next token renewal) comes first, but never
        replaces the period: a pod with a token due in 48 minutes still resyncs, so a status
        someone else changed (the node lifecycle controller's `Ready=False` while the node's
        heartbeats were late) is written back even if its informer update was missed (the
        update itself syncs the pod at once: `StatusManager.needs_reconcile`)."""
        period = self.settings.resync_period
        return period * (1.0 + RESYNC_JITTER * random.random())

    async def _finish_at_once(
        self,
        pod: Object,
        containers: list[Container],
        now: float,
        waiting: dict[str, tuple[str, str]],
    ) -> tuple[Object, list[Container]]:
        """A pod whose containers all exited during this sync and will not restart (a Job's
        short pod) is finished in the same sync: its sandbox stops before the status is
        written, so the apiserver gets the final status once instead of a terminal status with
        a running sandbox and then its `PodReadyToStartContainers=False` (Kubernetes' status
        manager coalesces such updates too). The status is computed over the one this sync
        would have written first, so it keeps what that one recorded (podIP, startTime).
        Returns (the pod carrying that first status, the containers after the stop)."""
        uid = specs.pod_uid(pod)
        done = actions.compute(pod, containers, self.crash_backoff, now)
        if not (done.terminal and done.stop_sandbox) or done.kill:
            return pod, containers
        first = podstatus.compute(pod, containers, await self._view(pod, containers, waiting))
        for sandbox in [c for c in containers if c.is_sandbox and c.state is State.RUNNING]:
            await self._stop(pod, sandbox, "pod finished")
        with metrics.runtime_op("list_containers"):
            containers = await self.runtime.list_containers(
                {LABEL_NODE: self.node, LABEL_POD_UID: uid}
            )
        return {**pod, "status": first}, containers

    async def _view(
        self,
        pod: Object,
        containers: list[Container],
        waiting: dict[str, tuple[str, str]] | None = None,
        terminal: bool = False,
    ) -> podstatus.PodView:
        uid = specs.pod_uid(pod)
        return podstatus.PodView(
            waiting=waiting or {},
            readiness=self.probes.results(uid, Kind.READINESS),
            startup=self.probes.results(uid, Kind.STARTUP),
            messages=await self.messages.collect(pod, containers),
            terminal=terminal,
            host_ip=self.settings.node_ip,
        )

    def _mark(self, uid: str, step: str) -> None:
        timer = self._starting.get(uid)
        if timer is not None:
            timer.mark(step)

    def _observe_start(self, pod: Object, status: Object) -> None:
        uid = specs.pod_uid(pod)
        if uid in self._started_reported:
            return
        statuses = status.get("containerStatuses") or []
        if statuses and all("running" in s["state"] for s in statuses):
            self._started_reported.add(uid)
            created = _created_at(pod)
            if created is not None:
                metrics.POD_START.observe(max(0.0, time.time() - created))

    async def _run_sandbox(self, pod: Object, attempt: int) -> Container | None:
        key = specs.pod_key(pod)
        image = self.settings.pause_image
        config = specs.sandbox_config(pod, self.node, attempt, image, self.settings.network_name)
        try:
            with metrics.runtime_op("run_podsandbox"):
                sandbox = await self.runtime.run(config)
        except RuntimeError_ as e:
            logger.warning("%s: could not create the pod sandbox: %s", key, e)
            self.recorder.record(
                pod, "Warning", "FailedCreatePodSandBox", f"Failed to create pod sandbox: {e}"
            )
            return None
        logger.info("%s: sandbox %s running, IP %s", key, sandbox.id[:12], sandbox.ip)
        return sandbox

    async def _start_containers(
        self,
        pod: Object,
        sandbox: Container,
        plan: actions.PodActions,
        waiting: dict[str, tuple[str, str]],
    ) -> float | None:
        """Start what the plan says; fill `waiting` for those that cannot; a requeue delay."""
        uid, key = specs.pod_uid(pod), specs.pod_key(pod)
        requeue: float | None = None
        by_name = {c["name"]: c for c in podutil.all_containers(pod)}
        service_env = envvars.service_env(
            self.services(), str(pod["metadata"].get("namespace") or ""),
            (pod.get("spec") or {}).get("enableServiceLinks") is not False,
        )  # fmt: skip
        ephemeral = {c["name"]: c for c in pod["spec"].get("ephemeralContainers") or []}
        by_name.update(ephemeral)
        pod_ip = self._pod_ip(pod, sandbox)
        pod_dir = self.settings.pods_dir / uid
        try:
            securitycontext.check_pod_supported(pod, self._selinux)
            configmaps = await self.objects.objects(pod, "configMap")
            secrets = await self.objects.objects(pod, "secret")
            self._mark(uid, "objects")
            pod = pvcvolumes.as_host_paths(pod, await pvcvolumes.resolve(self.client, pod))
            volume_paths = await volumes.prepare(pod_dir, pod)
            volume_paths.update(await self.api_volumes.prepare(pod, pod_dir, self._facts(pod_ip)))
            self._mark(uid, "volumes")
            dns_mounts = dnsfiles.write(
                pod, pod_dir, pod_ip, self.settings,
                lambda w: self.recorder.record(pod, "Warning", "DNSConfigForming", w),
            )  # fmt: skip
        except pvcvolumes.VolumeNotReady as e:  # the containers wait (ContainerCreating)
            self.recorder.record(pod, "Warning", "FailedMount",
                                 f"Unable to attach or mount volumes: {e}")  # fmt: skip
            return 2.0
        except MountError as e:
            self.recorder.record(pod, "Warning", "FailedMount", str(e))
            return 2.0
        except (specs.ConfigError, errors.ApiError, OSError) as e:
            message = getattr(e, "message", None) or str(e)
            for name, _, _ in plan.start:
                waiting[name] = ("CreateContainerConfigError", message)
            self.recorder.record(pod, "Warning", "Failed", f"Error: {message}")
            return 5.0
        requeue = _earliest(requeue, self._token_refresh_in(uid))
        for name, attempt, counts in plan.start:
            spec = by_name[name]
            reason = await self._ensure_image(pod, spec, secrets)
            if reason is not None:
                waiting[name] = reason[:2]
                requeue = _earliest(requeue, reason[2])
                continue
            target_id = None
            if name in ephemeral and spec.get("targetContainerName"):
                target_id = await self._running_id(uid, spec["targetContainerName"])
            try:
                security = await self._security(pod, spec)
                sub_paths = await self._sub_paths(pod, spec, pod_dir, volume_paths, configmaps,
                                                  secrets, pod_ip)  # fmt: skip
                config = specs.container_config(
                    pod,
                    spec,
                    node=self.node,
                    attempt=attempt,
                    sandbox_id=sandbox.id,
                    pod_ip=pod_ip,
                    host_ip=self.settings.node_ip,
                    volume_paths=volume_paths,
                    configmaps=configmaps,
                    secrets=secrets,
                    service_env=service_env,
                    security=security,
                    sub_paths=sub_paths,
                    allocatable=self.allocatable,
                    extra_mounts=await terminationlog.prepare(pod_dir, spec, attempt),
                    target_id=target_id,
                )
                config = dnsfiles.with_files(config, dns_mounts)
                self._warn_skipped_env(pod, spec, configmaps, secrets)
            except (specs.ConfigError, OSError) as e:
                waiting[name] = ("CreateContainerConfigError", str(e))
                self.recorder.record(pod, "Warning", "Failed", f"Error: {e}")
                requeue = _earliest(requeue, 5.0)
                continue
            if counts:
                self.crash_backoff.next(actions.backoff_key(uid, name), time.time())
            try:
                with metrics.runtime_op("run_container"):
                    container = await self.runtime.run(config)
            except RuntimeError_ as e:
                message = str(e)
                if config.security.privileged:  # say why, whatever Docker's words are
                    message = f"privileged containers cannot run on this node: {message}"
                waiting[name] = ("RunContainerError", message)
                self.recorder.record(pod, "Warning", "Failed", f"Error: {message}")
                if not counts:
                    self.crash_backoff.next(actions.backoff_key(uid, name), time.time())
                requeue = _earliest(
                    requeue, self.crash_backoff.delay(actions.backoff_key(uid, name), time.time())
                )
                logger.warning("%s: container %s failed to start: %s", key, name, message)
                continue
            logger.info(
                "%s: container %s started (%s, attempt %d)", key, name, container.id[:12], attempt
            )
            self.recorder.record(pod, "Normal", "Started", f"Started container {name}")
            handler = hooks.handler_of(spec, hooks.POST_START)
            if handler is not None:
                failure = await self._post_start(pod, spec, container, handler, pod_ip)
                if failure is not None:
                    waiting[name] = ("PostStartHookError", failure)
                    continue
            if init_plan.is_sidecar(spec):
                requeue = _earliest(requeue, 0.0)  # the next init container may start now
        return requeue

    async def _post_start(
        self, pod: Object, spec: Object, container: Container, handler: Object, pod_ip: str
    ) -> str | None:
        """Run the postStart hook (a deletion of the pod cancels it); on failure kill the
        container, as Kubernetes does, and say why."""
        uid, key, name = specs.pod_uid(pod), specs.pod_key(pod), spec["name"]
        task = tasks.spawn(self._hook(pod, spec, container, handler, pod_ip),
                           f"postStart {key}/{name}")  # fmt: skip
        self._post_starts[uid] = task
        try:
            failure = await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
            failure = f"PostStart hook of container {name} cancelled: the pod is being deleted"
        finally:
            self._post_starts.pop(uid, None)
        if failure is None:
            return None
        logger.info("%s: postStart hook of %s failed: %s", key, name, failure)
        self.recorder.record(pod, "Warning", "FailedPostStartHook", "PostStartHook failed")
        kill = killing.Kill(container, "FailedPostStartHook")
        await self.killer.kill(pod, [kill], specs.grace_period(pod), pod_ip)
        return failure

    async def _hook(
        self, pod: Object, spec: Object, container: Container, handler: Object, pod_ip: str
    ) -> str | None:
        try:
            await self.hooks.run(pod, spec, container.id, handler, pod_ip)
        except hooks.HookError as e:
            return str(e)
        return None

    def _facts(self, pod_ip: str) -> downward.PodFacts:
        return downward.PodFacts(pod_ip, self.settings.node_ip, self.allocatable)

    async def _running_id(self, uid: str, name: str) -> str | None:
        """The id of the pod's running container `name` (an ephemeral container's target)."""
        found = await self.runtime.list_containers({LABEL_NODE: self.node, LABEL_POD_UID: uid})
        running = [c for c in actions.by_name(found).get(name, []) if c.state is State.RUNNING]
        return running[-1].id if running else None

    def _pod_ip(self, pod: Object, sandbox: Container) -> str:
        """The sandbox's address, or the node's for a hostNetwork pod."""
        if podstatus.host_network(pod):
            return self.settings.node_ip
        return sandbox.ip or ""

    async def _security(self, pod: Object, spec: Object) -> SecurityOptions:
        """The container's securityContext as Docker options (`ConfigError` for what cannot be
        honoured, or a runAsNonRoot the image's user breaks)."""
        image_user = None
        if securitycontext.needs_image_user(pod, spec):
            image_user = await self.runtime.image_user(str(spec.get("image") or ""))
        return securitycontext.container_options(
            pod,
            spec,
            image_user or "",
            seccomp_default=self.settings.seccomp_default,
            selinux_enabled=self._selinux,
            read_profile=self._seccomp_profile,
        )

    def _seccomp_profile(self, localhost_profile: str) -> str:
        """A Localhost seccomp profile: `<root dir>/seccomp/<localhostProfile>`, as Kubernetes."""
        root = self.settings.root_dir / "seccomp"
        try:
            path = subpath.resolve_within(root, localhost_profile)
            return path.read_text()
        except (OSError, specs.ConfigError) as e:
            raise specs.ConfigError(
                f'cannot load seccomp profile "{root / localhost_profile}": {e}'
            ) from e

    async def _sub_paths(
        self, pod: Object, spec: Object, pod_dir: Path, volume_paths: dict[str, str],
        configmaps: dict[str, Object], secrets: dict[str, Object], pod_ip: str,
    ) -> dict[int, str]:  # fmt: skip
        """Each subPath mount of the container resolved inside its volume and pinned."""
        mounts = [m for m in spec.get("volumeMounts") or [] if m.get("subPath") or
                  m.get("subPathExpr")]  # fmt: skip
        if not mounts:
            return {}
        env = specs.resolve_env(pod, spec, pod_ip, self.settings.node_ip, configmaps, secrets,
                                self.allocatable)  # fmt: skip
        pinned: dict[int, str] = {}
        for i, mount in enumerate(spec.get("volumeMounts") or []):
            relative = specs.sub_path(spec, mount, env)
            if not relative or mount["name"] not in volume_paths:
                continue
            pinned[i] = await asyncio.to_thread(
                subpath.prepare, pod_dir, mount["name"], spec["name"], i,
                Path(volume_paths[mount["name"]]), relative, self.api_volumes.use_tmpfs,
            )  # fmt: skip
        return pinned

    async def _refresh_volumes(self, pod: Object, sandbox: Container) -> float | None:
        """Update a running pod's secret, configMap, projected and downwardAPI volumes in place
        (changed Secrets and ConfigMaps, renewed tokens); when to sync again for the next
        token renewal."""
        if not secretvolumes.has_volumes(pod):
            return None
        pod_dir = self.settings.pods_dir / specs.pod_uid(pod)
        try:
            await self.api_volumes.prepare(pod, pod_dir, self._facts(self._pod_ip(pod, sandbox)))
        except (MountError, errors.ApiError) as e:
            message = getattr(e, "message", None) or str(e)
            logger.warning("%s: volumes not updated: %s", specs.pod_key(pod), message)
            return 10.0
        return self._token_refresh_in(specs.pod_uid(pod))

    def _token_refresh_in(self, uid: str) -> float | None:
        due = self.tokens.next_refresh(uid)
        return None if due is None else max(0.0, due - time.time())

    def _warn_skipped_env(
        self, pod: Object, spec: Object, configmaps: dict[str, Object], secrets: dict[str, Object]
    ) -> None:
        if not spec.get("envFrom"):
            return
        namespace = pod["metadata"].get("namespace", "")
        for line in envfrom.from_sources(spec, namespace, configmaps, secrets).skipped:
            self.recorder.record(pod, "Warning", "InvalidEnvironmentVariableNames", line)

    async def _ensure_image(
        self, pod: Object, spec: Object, secrets: dict[str, Object]
    ) -> tuple[str, str, float] | None:
        """None when the image is ready; else (waiting reason, message, retry in seconds)."""
        uid, key = specs.pod_uid(pod), specs.pod_key(pod)
        image = str(spec.get("image") or "")
        policy = specs.pull_policy(spec)
        with metrics.runtime_op("image_status"):
            present = await self.runtime.image_id(image)
        if policy == "Never":
            if present:
                return None
            message = f'Container image "{image}" is not present with pull policy of Never'
            return "ErrImageNeverPull", message, 10.0
        if policy == "IfNotPresent" and present:
            return None
        pull_key = f"{uid}/{spec['name']}"
        now = time.time()
        remaining = self.pull_backoff.remaining(
            pull_key, self._pull_failed_at.get(pull_key, 0), now
        )
        if remaining > 0:
            message = f'Back-off pulling image "{image}"'
            if pull_key in self._pull_errors:
                message += f": {self._pull_errors[pull_key]}"
            return "ImagePullBackOff", message, remaining
        self._pull_errors.pop(pull_key, None)
        try:
            await self._pull(pod, image, secrets)
        except PullError as e:
            if e.unreachable and present and self.settings.image_pull_fallback_to_local:
                logger.info("%s: registry unreachable for %s; using the local image", key, image)
                self.recorder.record(
                    pod,
                    "Warning",
                    "PullUnreachableUsingLocal",
                    f'Could not reach the registry of "{image}" ({e.message}); '
                    f"using the image present on the node",
                )
                return None
            delay = self.pull_backoff.next(pull_key, now)
            self._pull_failed_at[pull_key] = now
            self._pull_errors[pull_key] = f"ErrImagePull: {e.message}"
            logger.info("%s: pulling %s failed: %s", key, image, e.message)
            self.recorder.record(
                pod, "Warning", "Failed", f'Failed to pull image "{image}": {e.message}'
            )
            # Sync again soon so the status shows ImagePullBackOff while it waits.
            return "ErrImagePull", f'Failed to pull image "{image}": {e.message}', min(1.0, delay)
        self.pull_backoff.reset(pull_key)
        self.recorder.record(pod, "Normal", "Pulled", f'Successfully pulled image "{image}"')
        return None

    async def _pull(self, pod: Object, image: str, secrets: dict[str, Object]) -> None:
        """Pull with each matching imagePullSecrets credential in turn, else anonymously."""
        wanted = [r.get("name") for r in (pod.get("spec") or {}).get("imagePullSecrets") or []]
        missing = [name for name in wanted if name and name not in secrets]
        if missing:
            self.recorder.record(
                pod,
                "Warning",
                "FailedToRetrieveImagePullSecret",
                f"Unable to retrieve some image pull secrets ({', '.join(missing)}); "
                f"attempting to pull the image may not succeed.",
            )
        auths = pullsecrets.credentials_for(image, [secrets[n] for n in wanted if n in secrets])
        error: PullError | None = None
        attempts: list[dict[str, str] | None] = [*auths] or [None]
        for auth in attempts:
            try:
                with metrics.runtime_op("pull_image"):
                    await self.runtime.pull_image(image, auth)
                return
            except PullError as e:
                error = e
        assert error is not None
        raise error

    async def _kill(
        self,
        pod: Object,
        containers: list[Container],
        kill: dict[str, str],
        grace: int,
        pod_ip: str,
    ) -> None:
        """Stop the containers whose ids `kill` holds (their Killing messages), preStop hooks
        first, sidecars last."""
        kills = [killing.Kill(c, kill[c.id]) for c in containers if c.id in kill]
        await self.killer.kill(pod, kills, grace, pod_ip)

    async def _stop(self, pod: Object | None, sandbox: Container, why: str) -> None:
        """Stop a pod's sandbox (at once: nothing runs in it any more)."""
        key = specs.pod_key(pod) if pod is not None else sandbox.pod_key
        logger.info("%s: stopping sandbox %s (%s)", key, sandbox.id[:12], why)
        try:
            with metrics.runtime_op("stop_podsandbox"):
                await self.runtime.stop(sandbox.id, 0)
        except RuntimeError_ as e:
            logger.warning("%s: stopping %s failed: %s", key, sandbox.id[:12], e)

    # --- termination -----------------------------------------------------------------------

    async def _stop_all(self, pod: Object | None, containers: list[Container], grace: int) -> None:
        """Stop everything that runs: the containers within `grace` (with their preStop hooks
        when the pod is known), then the sandbox."""
        running = [c for c in containers if not c.is_sandbox and c.state is State.RUNNING]
        sandboxes = [c for c in containers if c.is_sandbox and c.state is State.RUNNING]
        if pod is not None:
            ip = self._pod_ip(pod, sandboxes[-1]) if sandboxes else ""
            await self.killer.kill(pod, [killing.Kill(c) for c in running], grace, ip)
        else:  # an orphan after a restart: no spec, no hooks
            await asyncio.gather(*(self.runtime.stop(c.id, grace) for c in running))
        for sandbox in sandboxes:
            await self._stop(pod, sandbox, "pod deleted")

    async def _remove_all(self, containers: list[Container]) -> None:
        for c in containers:
            with metrics.runtime_op("remove_container"):
                await self.runtime.remove(c.id)

    async def _terminate(self, pod: Object, containers: list[Container]) -> None:
        """A deleted pod: stop it within its grace period, write its final status (a
        terminal phase, as Kubernetes' kubelet), then delete it for good."""
        uid, key = specs.pod_uid(pod), specs.pod_key(pod)
        grace = specs.grace_period(pod)
        self.probes.forget(uid)
        if containers:
            logger.info("%s: terminating (grace period %ds)", key, grace)
            await self._stop_all(pod, containers, grace)
            with metrics.runtime_op("list_containers"):
                containers = await self.runtime.list_containers(
                    {LABEL_NODE: self.node, LABEL_POD_UID: uid}
                )
        view = await self._view(pod, containers, terminal=True)
        await self.status_manager.set(pod, podstatus.compute(pod, containers, view))
        await self._remove_all(containers)
        await self.api_volumes.unmount(self.settings.pods_dir / uid)
        await volumes.remove(self.settings.pods_dir / uid)
        try:
            await self.client.delete(
                PODS,
                pod["metadata"]["name"],
                pod["metadata"]["namespace"],
                grace_period_seconds=0,
                preconditions={"uid": uid},
            )
            logger.info("%s: deleted", key)
        except (errors.NotFound, errors.Conflict):
            pass
        self._forget(uid)

    async def _remove_pod(self, uid: str, containers: list[Container]) -> None:
        last = self._last_known.pop(uid, None)
        if containers:
            key = specs.pod_key(last) if last else containers[0].pod_key
            grace = specs.grace_period(last) if last else 0
            logger.info(
                "%s: pod no longer exists; removing its %d containers", key, len(containers)
            )
            self.probes.forget(uid)
            await self._stop_all(last, containers, grace)
            await self._remove_all(containers)
        await self.api_volumes.unmount(self.settings.pods_dir / uid)
        await volumes.remove(self.settings.pods_dir / uid)
        self._forget(uid)

    def _forget(self, uid: str) -> None:
        self.objects.unregister(uid)
        self.tokens.forget(uid)
        self.status_manager.forget(uid)
        self.crash_backoff.forget_prefix(uid)
        self.pull_backoff.forget_prefix(uid)
        self._started_reported.discard(uid)
        self._starting.pop(uid, None)
        self.messages.forget(uid)
        for k in [k for k in self._pull_failed_at if k.startswith(uid)]:
            del self._pull_failed_at[k]
            self._pull_errors.pop(k, None)

    async def close(self) -> None:
        self.queue.shutdown()
        await tasks.cancel_and_wait(list(self._post_starts.values()), timeout=2)
        await self.probes.close()
        await self.objects.close()
        await self.hooks.close()


def _first_sight(pod: Object) -> metrics.StepTimer:
    """A timer from now, the kubelet's first sight of `pod`, having observed how long after
    its binding (its PodScheduled condition: whole seconds) that came."""
    now = time.time()
    condition = meta.get_condition(pod, "PodScheduled") or {}
    scheduled = times.parse_timestamp(condition.get("lastTransitionTime"))
    if scheduled is not None:
        metrics.FIRST_SYNC_STEPS.labels("watch").observe(max(0.0, now - scheduled))
    return metrics.StepTimer(now)


def _earliest(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)
