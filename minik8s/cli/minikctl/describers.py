"""The body of `describe` per kind, as tab-separated lines in kubectl's order (pure, apart
from `related`, which fetches what a describer shows of other objects)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from minik8s.api import errors as api_errors
from minik8s.api import meta, resources, storageutil, times
from minik8s.api.meta import Object
from minik8s.api.resources import ResourceType
from minik8s.cli.minikctl import output
from minik8s.client.api import ApiClient

NONE = "<none>"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
"""kubectl's describe hides it."""


def _map_lines(title: str, values: dict[str, str] | None, indent: str = "") -> list[str]:
    """`Labels:  a=1` then one `\\tb=2` line per further entry, as kubectl prints maps."""
    values = {k: v for k, v in (values or {}).items() if k != LAST_APPLIED}
    if not values:
        return [f"{indent}{title}:\t{NONE}"]
    items = [f"{k}={values[k]}" for k in sorted(values)]
    if title == "Annotations":
        items = [f"{k}: {values[k]}" for k in sorted(values)]
    return [f"{indent}{title}:\t{items[0]}", *(f"{indent}\t{i}" for i in items[1:])]


def _timestamp(value: str | None) -> str:
    if not value:
        return NONE
    moment = times.parse_time(value)
    if moment is None:
        return value
    return moment.strftime(times.RFC1123Z)


def _header(obj: Object, namespaced: bool = True, created: bool = True) -> list[str]:
    md = meta.meta(obj)
    lines = [f"Name:\t{md.get('name', '')}"]
    if namespaced:
        lines.append(f"Namespace:\t{md.get('namespace', '')}")
    if created:
        lines.append(f"CreationTimestamp:\t{_timestamp(md.get('creationTimestamp'))}")
    lines += _map_lines("Labels", md.get("labels"))
    lines += _map_lines("Annotations", md.get("annotations"))
    return lines


def _controlled_by(obj: Object) -> list[str]:
    ref = meta.controller_ref(obj)
    return [f"Controlled By:\t{ref.get('kind')}/{ref.get('name')}"] if ref else []


def _ports(container: Object) -> tuple[str, str]:
    ports = container.get("ports") or []
    if not ports:
        return NONE, NONE
    port = ",".join(f"{p.get('containerPort')}/{p.get('protocol', 'TCP')}" for p in ports)
    host = ",".join(f"{p.get('hostPort', 0)}/{p.get('protocol', 'TCP')}" for p in ports)
    return port, host


def _state_lines(title: str, state: Object | None, indent: str) -> list[str]:
    if not state:
        return []
    (name, detail), *_ = state.items()
    detail = detail or {}
    lines = [f"{indent}{title}:\t{name.capitalize()}"]
    if detail.get("reason"):
        lines.append(f"{indent}  Reason:\t{detail['reason']}")
    if name == "terminated" and detail.get("message"):
        lines.append(f"{indent}  Message:\t{detail['message']}")
    if detail.get("exitCode") is not None:
        lines.append(f"{indent}  Exit Code:\t{detail['exitCode']}")
    if detail.get("signal"):
        lines.append(f"{indent}  Signal:\t{detail['signal']}")
    if detail.get("startedAt"):
        lines.append(f"{indent}  Started:\t{_timestamp(detail['startedAt'])}")
    if detail.get("finishedAt"):
        lines.append(f"{indent}  Finished:\t{_timestamp(detail['finishedAt'])}")
    return lines


def _container_lines(
    containers: list[Object], statuses: list[Object], indent: str, inner: str
) -> list[str]:
    by_name = {s.get("name"): s for s in statuses}
    lines: list[str] = []
    for c in containers:
        status = by_name.get(c.get("name"))
        lines.append(f"{indent}{c.get('name')}:")
        if status and status.get("containerID"):
            lines.append(f"{inner}Container ID:\t{status['containerID']}")
        lines.append(f"{inner}Image:\t{c.get('image', '')}")
        if status and status.get("imageID"):
            lines.append(f"{inner}Image ID:\t{status['imageID']}")
        port, host = _ports(c)
        lines += [f"{inner}Port:\t{port}", f"{inner}Host Port:\t{host}"]
        for key, title in (("command", "Command"), ("args", "Args")):
            if c.get(key):
                lines.append(f"{inner}{title}:")
                lines += [f"{inner}  {part}" for part in c[key]]
        if status:
            lines += _state_lines("State", status.get("state"), inner)
            lines += _state_lines("Last State", status.get("lastState"), inner)
            lines.append(f"{inner}Ready:\t{'True' if status.get('ready') else 'False'}")
            lines.append(f"{inner}Restart Count:\t{status.get('restartCount', 0)}")
        env = c.get("env") or []
        if env:
            lines.append(f"{inner}Environment:")
            lines += [f"{inner}  {e.get('name')}:\t{e.get('value', '')}" for e in env]
        else:
            lines.append(f"{inner}Environment:\t{NONE}")
        mounts = c.get("volumeMounts") or []
        mount_text = [f"{m.get('mountPath')} from {m.get('name')}" for m in mounts]
        lines.append(f"{inner}Mounts:\t{mount_text[0] if mount_text else NONE}")
        lines += [f"{inner}\t{m}" for m in mount_text[1:]]
    return lines


def _qos(pod: Object) -> str:
    requests_or_limits = [
        (c.get("resources") or {}) for c in (pod.get("spec") or {}).get("containers") or []
    ]
    if not any(r.get("requests") or r.get("limits") for r in requests_or_limits):
        return "BestEffort"
    if all(r.get("limits") and r.get("requests", r["limits"]) == r["limits"]
           for r in requests_or_limits):  # fmt: skip
        return "Guaranteed"
    return "Burstable"


def _pod_template_tail(spec: Object, indent: str) -> list[str]:
    volumes = spec.get("volumes") or []
    names = ", ".join(v.get("name", "") for v in volumes) or NONE
    selectors = spec.get("nodeSelector") or {}
    tolerations = spec.get("tolerations") or []
    return [
        f"{indent}Volumes:\t{names}",
        f"{indent}Node-Selectors:\t{output.format_labels(selectors) if selectors else NONE}",
        f"{indent}Tolerations:\t{', '.join(str(t.get('key', '')) for t in tolerations) or NONE}",
    ]


def describe_pod(pod: Object, extras: Object) -> list[str]:
    md, spec, status = meta.meta(pod), pod.get("spec") or {}, pod.get("status") or {}
    node = spec.get("nodeName")
    lines = [f"Name:\t{md.get('name', '')}", f"Namespace:\t{md.get('namespace', '')}"]
    lines.append(f"Priority:\t{spec.get('priority', 0)}")
    lines.append(f"Node:\t{node + '/' + status.get('hostIP', '') if node else NONE}")
    if status.get("startTime"):
        lines.append(f"Start Time:\t{_timestamp(status['startTime'])}")
    lines += _map_lines("Labels", md.get("labels"))
    lines += _map_lines("Annotations", md.get("annotations"))
    phase = "Terminating" if md.get("deletionTimestamp") else status.get("phase", "")
    lines.append(f"Status:\t{phase}")
    if status.get("reason"):
        lines.append(f"Reason:\t{status['reason']}")
    lines.append(f"IP:\t{status.get('podIP', '')}")
    ips = [i.get("ip") for i in status.get("podIPs") or []]
    lines.append(f"IPs:\t{NONE}" if not ips else "IPs:")
    lines += [f"  IP:\t{ip}" for ip in ips]
    lines += _controlled_by(pod)
    if spec.get("initContainers"):
        lines.append("Init Containers:")
        init_statuses = status.get("initContainerStatuses") or []
        lines += _container_lines(spec["initContainers"], init_statuses, "  ", "    ")
    lines.append("Containers:")
    statuses = status.get("containerStatuses") or []
    lines += _container_lines(spec.get("containers") or [], statuses, "  ", "    ")
    conditions = status.get("conditions") or []
    if conditions:
        lines += ["Conditions:", "  Type\tStatus", *(
            f"  {c.get('type')}\t{c.get('status')}" for c in conditions
        )]  # fmt: skip
    lines += _pod_template_tail(spec, "")
    lines.insert(len(lines) - 2, f"QoS Class:\t{status.get('qosClass') or _qos(pod)}")
    return lines


def _replicas_line(status: Object, desired: Any) -> str:
    total = status.get("replicas", 0)
    available = status.get("availableReplicas", 0)
    return (
        f"Replicas:\t{desired} desired | {status.get('updatedReplicas', 0)} updated | "
        f"{total} total | {available} available | {status.get('unavailableReplicas', 0)} "
        "unavailable"
    )


def _template_lines(template: Object) -> list[str]:
    spec = template.get("spec") or {}
    lines = ["Pod Template:"]
    lines += _map_lines("Labels", (template.get("metadata") or {}).get("labels"), "  ")
    annotations = (template.get("metadata") or {}).get("annotations")
    if annotations:
        lines += _map_lines("Annotations", annotations, "  ")
    lines.append("  Containers:")
    lines += _container_lines(spec.get("containers") or [], [], "   ", "    ")
    lines += _pod_template_tail(spec, "  ")
    return lines


def _selector(obj: Object) -> str:
    selector = (obj.get("spec") or {}).get("selector") or {}
    labels = selector.get("matchLabels", selector) if isinstance(selector, dict) else {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or NONE


def describe_deployment(deploy: Object, extras: Object) -> list[str]:
    spec, status = deploy.get("spec") or {}, deploy.get("status") or {}
    strategy = spec.get("strategy") or {}
    lines = _header(deploy)
    lines.append(f"Selector:\t{_selector(deploy)}")
    lines.append(_replicas_line(status, spec.get("replicas", 1)))
    lines.append(f"StrategyType:\t{strategy.get('type', 'RollingUpdate')}")
    lines.append(f"MinReadySeconds:\t{spec.get('minReadySeconds', 0)}")
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        rolling = strategy.get("rollingUpdate") or {}
        lines.append(
            f"RollingUpdateStrategy:\t{rolling.get('maxUnavailable', '25%')} max unavailable, "
            f"{rolling.get('maxSurge', '25%')} max surge"
        )
    lines += _template_lines(spec.get("template") or {})
    conditions = status.get("conditions") or []
    if conditions:
        lines += ["Conditions:", "  Type\tStatus\tReason", "  ----\t------\t------"]
        lines += [
            f"  {c.get('type')}\t{c.get('status')}\t{c.get('reason', '')}" for c in conditions
        ]
    if extras.get("old") or extras.get("new"):
        lines.append(f"OldReplicaSets:\t{extras['old'] or NONE}")
        lines.append(f"NewReplicaSet:\t{extras['new'] or NONE}")
    return lines


def describe_replicaset(rs: Object, extras: Object) -> list[str]:
    spec, status = rs.get("spec") or {}, rs.get("status") or {}
    lines = [f"Name:\t{meta.meta(rs).get('name')}", f"Namespace:\t{meta.meta(rs).get('namespace')}"]
    lines.append(f"Selector:\t{_selector(rs)}")
    lines += _map_lines("Labels", meta.meta(rs).get("labels"))
    lines += _map_lines("Annotations", meta.meta(rs).get("annotations"))
    lines += _controlled_by(rs)
    lines.append(
        f"Replicas:\t{status.get('replicas', 0)} current / {spec.get('replicas', 1)} desired"
    )
    lines.append(f"Pods Status:\t{extras.get('pods_status', '')}")
    lines += _template_lines(spec.get("template") or {})
    return lines


def describe_service(svc: Object, extras: Object) -> list[str]:
    spec = svc.get("spec") or {}
    lines = _header(svc, created=False)
    selector = spec.get("selector") or {}
    lines.append(f"Selector:\t{output.format_labels(selector) if selector else NONE}")
    lines.append(f"Type:\t{spec.get('type', 'ClusterIP')}")
    lines.append(f"IP Family Policy:\t{spec.get('ipFamilyPolicy', 'SingleStack')}")
    lines.append(f"IP Families:\t{','.join(spec.get('ipFamilies') or ['IPv4'])}")
    lines.append(f"IP:\t{spec.get('clusterIP', '')}")
    lines.append(f"IPs:\t{','.join(spec.get('clusterIPs') or [spec.get('clusterIP', '')])}")
    if spec.get("loadBalancerIP"):
        lines.append(f"Desired LoadBalancer IP:\t{spec['loadBalancerIP']}")
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    if ingress:
        shown = [
            (i.get("ip") or i.get("hostname") or "")
            + (f" ({i['ipMode']})" if i.get("ipMode") else "")
            for i in ingress
        ]
        lines.append(f"LoadBalancer Ingress:\t{', '.join(shown)}")
    for port in spec.get("ports") or []:
        protocol = port.get("protocol", "TCP")
        lines.append(f"Port:\t{port.get('name') or '<unset>'}  {port.get('port')}/{protocol}")
        lines.append(f"TargetPort:\t{port.get('targetPort', port.get('port'))}/{protocol}")
        if port.get("nodePort"):
            lines.append(
                f"NodePort:\t{port.get('name') or '<unset>'}  {port['nodePort']}/{protocol}"
            )
        lines.append(f"Endpoints:\t{extras.get('endpoints') or NONE}")
    lines.append(f"Session Affinity:\t{spec.get('sessionAffinity', 'None')}")
    if spec.get("externalTrafficPolicy"):
        lines.append(f"External Traffic Policy:\t{spec['externalTrafficPolicy']}")
    lines.append(f"Internal Traffic Policy:\t{spec.get('internalTrafficPolicy', 'Cluster')}")
    if spec.get("healthCheckNodePort"):
        lines.append(f"HealthCheck NodePort:\t{spec['healthCheckNodePort']}")
    if spec.get("loadBalancerSourceRanges"):
        ranges = ",".join(spec["loadBalancerSourceRanges"])
        lines.append(f"LoadBalancer Source Ranges:\t{ranges}")
    return lines


def describe_node(node: Object, extras: Object) -> list[str]:
    spec, status = node.get("spec") or {}, node.get("status") or {}
    md = meta.meta(node)
    lines = [f"Name:\t{md.get('name')}"]
    lines += _map_lines("Labels", md.get("labels"))
    lines += _map_lines("Annotations", md.get("annotations"))
    lines.append(f"CreationTimestamp:\t{_timestamp(md.get('creationTimestamp'))}")
    taints = [f"{t.get('key')}:{t.get('effect')}" for t in spec.get("taints") or []]
    lines.append(f"Taints:\t{taints[0] if taints else NONE}")
    lines += [f"\t{t}" for t in taints[1:]]
    lines.append(f"Unschedulable:\t{'true' if spec.get('unschedulable') else 'false'}")
    conditions = status.get("conditions") or []
    lines += ["Conditions:", "  Type\tStatus\tLastHeartbeatTime\tReason\tMessage",
              "  ----\t------\t-----------------\t------\t-------"]  # fmt: skip
    lines += [
        f"  {c.get('type')}\t{c.get('status')}\t{_timestamp(c.get('lastHeartbeatTime'))}\t"
        f"{c.get('reason', '')}\t{c.get('message', '')}"
        for c in conditions
    ]
    lines.append("Addresses:")
    lines += [f"  {a.get('type')}:\t{a.get('address')}" for a in status.get("addresses") or []]
    for title, key in (("Capacity", "capacity"), ("Allocatable", "allocatable")):
        lines.append(f"{title}:")
        lines += [f"  {k}:\t{v}" for k, v in sorted((status.get(key) or {}).items())]
    pods = extras.get("pods")
    if pods is not None:
        lines.append(f"Non-terminated Pods:\t({len(pods)} in total)")
        if pods:
            lines += ["  Namespace\tName\tAge", "  ---------\t----\t---"]
            lines += [f"  {ns}\t{name}\t{age}" for ns, name, age in pods]
    return lines


def describe_namespace(ns: Object, extras: Object) -> list[str]:
    lines = _header(ns, namespaced=False, created=False)
    lines.append(f"Status:\t{(ns.get('status') or {}).get('phase', 'Active')}")
    return lines


def describe_secret(secret: Object, extras: Object) -> list[str]:
    """As `kubectl describe secret`: the type and each key's size, never the values."""
    lines = _header(secret, created=False)
    lines += ["", f"Type:\t{secret.get('type') or 'Opaque'}", "", "Data", "===="]
    data = secret.get("data") or {}
    for key in sorted(data):
        size = len(base64.b64decode(data[key])) if isinstance(data[key], str) else 0
        lines.append(f"{key}:\t{size} bytes")
    return lines


def describe_service_account(account: Object, extras: Object) -> list[str]:
    lines = _header(account, created=False)
    pull = [r.get("name", "") for r in account.get("imagePullSecrets") or []]
    mountable = [r.get("name", "") for r in account.get("secrets") or []]
    lines.append(f"Image pull secrets:\t{', '.join(pull) or NONE}")
    lines.append(f"Mountable secrets:\t{', '.join(mountable) or NONE}")
    lines.append(f"Tokens:\t{NONE}")
    return lines


def describe_generic(obj: Object, extras: Object) -> list[str]:
    lines = _header(obj, namespaced=bool(meta.meta(obj).get("namespace")))
    for key, value in obj.items():
        if key in ("metadata", "apiVersion", "kind"):
            continue
        lines.append(f"{key[:1].upper()}{key[1:]}:")
        for text in output.to_yaml(value).splitlines():
            lines.append(f"  {text}")
    return lines


DESCRIBERS: dict[ResourceType, Callable[[Object, Object], list[str]]] = {
    resources.PODS: describe_pod,
    resources.DEPLOYMENTS: describe_deployment,
    resources.REPLICASETS: describe_replicaset,
    resources.SERVICES: describe_service,
    resources.NODES: describe_node,
    resources.NAMESPACES: describe_namespace,
    resources.SECRETS: describe_secret,
    resources.SERVICEACCOUNTS: describe_service_account,
}


def describe(rt: ResourceType, obj: Object, extras: Object) -> list[str]:
    from minik8s.cli.minikctl import describers_batch, describers_sets  # they use our helpers

    describer = (
        DESCRIBERS.get(rt)
        or describers_batch.DESCRIBERS.get(rt)
        or describers_sets.DESCRIBERS.get(rt, describe_generic)
    )
    return describer(obj, extras)


def _owned_by(obj: Object, owner: Object) -> bool:
    return meta.find_owner(obj, meta.uid_of(owner)) is not None


async def related(client: ApiClient, rt: ResourceType, obj: Object) -> Object:
    """What a describer shows of other objects (replica sets, endpoints, pods on a node)."""
    md = meta.meta(obj)
    ns = md.get("namespace")
    try:
        if rt is resources.DEPLOYMENTS:
            listed = await client.list_all(resources.REPLICASETS, ns)
            owned = [rs for rs in listed.get("items") or [] if _owned_by(rs, obj)]
            template = (obj.get("spec") or {}).get("template")
            new = [rs for rs in owned if (rs.get("spec") or {}).get("template", {}).get("spec")
                   == (template or {}).get("spec")]  # fmt: skip
            old = [rs for rs in owned if rs not in new and (rs.get("spec") or {}).get("replicas")]

            def show(rs: Object) -> str:
                s = rs.get("status") or {}
                return (
                    f"{meta.meta(rs).get('name')} ({s.get('replicas', 0)}/"
                    f"{(rs.get('spec') or {}).get('replicas', 0)} replicas created)"
                )

            return {"new": ", ".join(map(show, new[:1])), "old": ", ".join(map(show, old))}
        if rt in (resources.REPLICASETS, resources.REPLICATIONCONTROLLERS, resources.JOBS,
                  resources.DAEMONSETS, resources.STATEFULSETS):  # fmt: skip
            pods = await client.list_all(resources.PODS, ns)
            phases = [(p.get("status") or {}).get("phase") for p in pods.get("items") or []
                      if _owned_by(p, obj)]  # fmt: skip
            counts = {p: phases.count(p) for p in ("Running", "Pending", "Succeeded", "Failed")}
            return {"pods_status": " / ".join(f"{n} {p}" for p, n in counts.items())}
        if rt is resources.SERVICES:
            endpoints = await client.get(resources.ENDPOINTS, md["name"], ns)
            addresses = [
                f"{a.get('ip')}:{p.get('port')}"
                for subset in endpoints.get("subsets") or []
                for a in subset.get("addresses") or []
                for p in (subset.get("ports") or [{}])[:1]
            ]
            return {"endpoints": ",".join(addresses)}
        if rt is resources.PERSISTENTVOLUMECLAIMS:
            pods = await client.list_all(resources.PODS, ns)
            users = [
                meta.name_of(p)
                for p in pods.get("items") or []
                if md["name"] in storageutil.claim_names(p)
            ]
            return {"used_by": users}
        if rt is resources.NODES:
            pods = await client.list_all(
                resources.PODS, None, field_selector=f"spec.nodeName={md['name']}"
            )
            rows = []
            for p in pods.get("items") or []:
                if (p.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                    continue
                pm = meta.meta(p)
                rows.append((pm.get("namespace"), pm.get("name"), ""))
            return {"pods": rows}
    except api_errors.NotFound:
        return {}
    return {}
