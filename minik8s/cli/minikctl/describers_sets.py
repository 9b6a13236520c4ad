"""`describe` bodies of DaemonSets, StatefulSets and the storage kinds, in kubectl's order
(pure; registered in `describers.DESCRIBERS`)."""

from __future__ import annotations

from minik8s.api import meta, resources, storageutil
from minik8s.api.meta import Object
from minik8s.cli.minikctl import describers as d

NONE = d.NONE


def _finalizers(obj: Object) -> str:
    return "[" + " ".join(meta.finalizers_of(obj)) + "]"


def describe_daemonset(ds: Object, extras: Object) -> list[str]:
    spec, status = ds.get("spec") or {}, ds.get("status") or {}
    template_spec = (spec.get("template") or {}).get("spec") or {}
    node_selector = template_spec.get("nodeSelector") or {}
    lines = [f"Name:\t{meta.name_of(ds)}", f"Selector:\t{d._selector(ds)}"]
    lines.append(
        f"Node-Selector:\t{d.output.format_labels(node_selector) if node_selector else NONE}"
    )
    lines += d._map_lines("Labels", meta.labels_of(ds))
    lines += d._map_lines("Annotations", meta.annotations_of(ds))
    lines += [
        f"Desired Number of Nodes Scheduled:\t{status.get('desiredNumberScheduled', 0)}",
        f"Current Number of Nodes Scheduled:\t{status.get('currentNumberScheduled', 0)}",
        "Number of Nodes Scheduled with Up-to-date Pods:\t"
        f"{status.get('updatedNumberScheduled', 0)}",
        f"Number of Nodes Scheduled with Available Pods:\t{status.get('numberAvailable', 0)}",
        f"Number of Nodes Misscheduled:\t{status.get('numberMisscheduled', 0)}",
        f"Pods Status:\t{extras.get('pods_status', '')}",
    ]
    lines += d._template_lines(spec.get("template") or {})
    return lines


def _claim_template_lines(template: Object) -> list[str]:
    spec = template.get("spec") or {}
    storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "")
    lines = [f"  Name:\t{meta.name_of(template)}",
             f"  StorageClass:\t{spec.get('storageClassName') or ''}"]  # fmt: skip
    lines += d._map_lines("Labels", meta.labels_of(template), "  ")
    lines += d._map_lines("Annotations", meta.annotations_of(template), "  ")
    lines.append(f"  Capacity:\t{storage}")
    lines.append(f"  Access Modes:\t[{' '.join(spec.get('accessModes') or [])}]")
    return lines


def describe_statefulset(sts: Object, extras: Object) -> list[str]:
    spec, status = sts.get("spec") or {}, sts.get("status") or {}
    lines = d._header(sts)
    lines.insert(3, f"Selector:\t{d._selector(sts)}")
    lines.append(
        f"Replicas:\t{spec.get('replicas', 1)} desired | {status.get('replicas', 0)} total"
    )
    strategy = spec.get("updateStrategy") or {}
    lines.append(f"Update Strategy:\t{strategy.get('type', 'RollingUpdate')}")
    if strategy.get("rollingUpdate") is not None:
        lines.append(f"  Partition:\t{(strategy.get('rollingUpdate') or {}).get('partition', 0)}")
    lines.append(f"Pods Status:\t{extras.get('pods_status', '')}")
    lines += d._template_lines(spec.get("template") or {})
    templates = spec.get("volumeClaimTemplates") or []
    if not templates:
        lines.append(f"Volume Claims:\t{NONE}")
    else:
        lines.append("Volume Claims:")
        for template in templates:
            lines += _claim_template_lines(template)
    return lines


def describe_pvc(pvc: Object, extras: Object) -> list[str]:
    spec, status = pvc.get("spec") or {}, pvc.get("status") or {}
    phase = "Terminating" if meta.is_deleting(pvc) else status.get("phase", "")
    lines = [f"Name:\t{meta.name_of(pvc)}", f"Namespace:\t{meta.namespace_of(pvc)}",
             f"StorageClass:\t{storageutil.claim_class(pvc) or ''}", f"Status:\t{phase}",
             f"Volume:\t{spec.get('volumeName', '')}"]  # fmt: skip
    lines += d._map_lines("Labels", meta.labels_of(pvc))
    lines += d._map_lines("Annotations", meta.annotations_of(pvc))
    lines.append(f"Finalizers:\t{_finalizers(pvc)}")
    lines.append(f"Capacity:\t{(status.get('capacity') or {}).get('storage', '')}")
    lines.append(
        f"Access Modes:\t{storageutil.short_access_modes(status.get('accessModes') or [])}"
    )
    lines.append(f"VolumeMode:\t{spec.get('volumeMode', 'Filesystem')}")
    used_by = extras.get("used_by") or []
    lines.append(f"Used By:\t{used_by[0] if used_by else NONE}")
    lines += [f"\t{name}" for name in used_by[1:]]
    return lines


def _source_lines(spec: Object) -> list[str]:
    host_path, local = spec.get("hostPath"), spec.get("local")
    if host_path is not None:
        return ["    Type:\tHostPath (bare host directory volume)",
                f"    Path:\t{host_path.get('path', '')}",
                f"    HostPathType:\t{host_path.get('type', '')}"]  # fmt: skip
    if local is not None:
        return ["    Type:\tLocalVolume (a persistent volume backed by local storage on a node)",
                f"    Path:\t{local.get('path', '')}"]  # fmt: skip
    return []


def describe_pv(pv: Object, extras: Object) -> list[str]:
    spec, status = pv.get("spec") or {}, pv.get("status") or {}
    phase = "Terminating" if meta.is_deleting(pv) else status.get("phase", "")
    ref = spec.get("claimRef") or {}
    lines = [f"Name:\t{meta.name_of(pv)}"]
    lines += d._map_lines("Labels", meta.labels_of(pv))
    lines += d._map_lines("Annotations", meta.annotations_of(pv))
    lines += [
        f"Finalizers:\t{_finalizers(pv)}",
        f"StorageClass:\t{storageutil.volume_class(pv)}",
        f"Status:\t{phase}",
        f"Claim:\t{ref.get('namespace', '')}/{ref.get('name', '')}" if ref else "Claim:\t",
        f"Reclaim Policy:\t{spec.get('persistentVolumeReclaimPolicy', '')}",
        f"Access Modes:\t{storageutil.short_access_modes(spec.get('accessModes') or [])}",
        f"VolumeMode:\t{spec.get('volumeMode', 'Filesystem')}",
        f"Capacity:\t{(spec.get('capacity') or {}).get('storage', '')}",
    ]
    required = ((spec.get("nodeAffinity") or {}).get("required") or {}).get("nodeSelectorTerms")
    if not required:
        lines.append(f"Node Affinity:\t{NONE}")
    else:
        lines += ["Node Affinity:", "  Required Terms:"]
        for i, term in enumerate(required):
            expressions = [
                f"{e.get('key')} {str(e.get('operator', '')).lower()} "
                f"[{', '.join(e.get('values') or [])}]"
                for e in term.get("matchExpressions") or []
            ]
            lines.append(f"    Term {i}:\t{', '.join(expressions)}")
    lines.append(f"Message:\t{status.get('message', '')}")
    lines.append("Source:")
    lines += _source_lines(spec)
    return lines


def describe_storageclass(sc: Object, extras: Object) -> list[str]:
    parameters = sc.get("parameters") or {}
    expansion = sc.get("allowVolumeExpansion")
    lines = [f"Name:\t{meta.name_of(sc)}",
             f"IsDefaultClass:\t{'Yes' if storageutil.is_default_class(sc) else 'No'}"]  # fmt: skip
    lines += d._map_lines("Annotations", meta.annotations_of(sc))
    lines += [
        f"Provisioner:\t{sc.get('provisioner', '')}",
        f"Parameters:\t{','.join(f'{k}={v}' for k, v in sorted(parameters.items())) or NONE}",
        f"AllowVolumeExpansion:\t{'<unset>' if expansion is None else str(expansion)}",
        f"MountOptions:\t{', '.join(sc.get('mountOptions') or []) or NONE}",
        f"ReclaimPolicy:\t{sc.get('reclaimPolicy', 'Delete')}",
        f"VolumeBindingMode:\t{sc.get('volumeBindingMode', 'Immediate')}",
    ]
    return lines


DESCRIBERS = {
    resources.DAEMONSETS: describe_daemonset,
    resources.STATEFULSETS: describe_statefulset,
    resources.PERSISTENTVOLUMECLAIMS: describe_pvc,
    resources.PERSISTENTVOLUMES: describe_pv,
    resources.STORAGECLASSES: describe_storageclass,
}
