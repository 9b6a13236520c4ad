"""Regenerate minik8s/api/protobuf_schema.json: the field numbers of the Kubernetes protobuf kinds.

kubectl (client-go) sends typed objects as `application/vnd.kubernetes.protobuf`. Every Go
binary built from k8s.io/api embeds the gzipped FileDescriptorProto of each generated.proto;
this reads them from a kubectl binary and keeps only the messages reachable from the kinds
minik8s decodes, as {message: {field number: [json name, type, message or map value, repeated]}}.

    .venv/bin/python tools/gen_protobuf_schema.py /usr/bin/kubectl
"""

from __future__ import annotations

import json
import re
import sys
import zlib
from pathlib import Path

from google.protobuf import descriptor_pb2

ROOTS = (
    "api.core.v1.Namespace",
    "api.core.v1.ConfigMap",
    "api.core.v1.Secret",
    "api.core.v1.ServiceAccount",
    "api.core.v1.Pod",
    "api.core.v1.Service",
    "api.core.v1.Endpoints",
    "api.core.v1.Node",
    "api.core.v1.Event",
    "api.core.v1.Binding",
    "api.apps.v1.Deployment",
    "api.apps.v1.ReplicaSet",
    "api.apps.v1.DaemonSet",
    "api.apps.v1.StatefulSet",
    "api.apps.v1.ControllerRevision",
    "api.core.v1.PersistentVolume",
    "api.core.v1.PersistentVolumeClaim",
    "api.storage.v1.StorageClass",
    "api.autoscaling.v1.Scale",
    "api.coordination.v1.Lease",
    "api.policy.v1.Eviction",
    "api.policy.v1.PodDisruptionBudget",
    "api.batch.v1.Job",
    "api.batch.v1.CronJob",
    "api.core.v1.ReplicationController",
    "api.authentication.v1.SelfSubjectReview",
    "api.authentication.v1.TokenReview",
    "api.authorization.v1.SubjectAccessReview",
    "api.authorization.v1.SelfSubjectAccessReview",
    "api.authorization.v1.LocalSubjectAccessReview",
    "api.authorization.v1.SelfSubjectRulesReview",
    "api.rbac.v1.Role",
    "api.rbac.v1.ClusterRole",
    "api.rbac.v1.RoleBinding",
    "api.rbac.v1.ClusterRoleBinding",
    "api.authentication.v1.TokenRequest",
    "api.certificates.v1.CertificateSigningRequest",
    "apimachinery.pkg.apis.meta.v1.DeleteOptions",
    "api.autoscaling.v1.HorizontalPodAutoscaler",
    "api.autoscaling.v2.HorizontalPodAutoscaler",
    "api.events.v1.Event",
)
OUT = Path(__file__).resolve().parent.parent / "minik8s" / "api" / "protobuf_schema.json"
T = descriptor_pb2.FieldDescriptorProto
SCALARS = {
    T.TYPE_STRING: "string",
    T.TYPE_BYTES: "bytes",
    T.TYPE_BOOL: "bool",
    T.TYPE_INT32: "int",
    T.TYPE_INT64: "int",
    T.TYPE_UINT32: "int",
    T.TYPE_UINT64: "int",
    T.TYPE_DOUBLE: "double",
    T.TYPE_FLOAT: "float",
}


def descriptors(binary: Path) -> dict[str, descriptor_pb2.DescriptorProto]:
    data = binary.read_bytes()
    messages: dict[str, descriptor_pb2.DescriptorProto] = {}
    for match in re.finditer(b"\x1f\x8b\x08\x00\x00\x00\x00\x00", data):
        try:
            raw = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(
                data[match.start() :][:4_000_000]
            )
            fd = descriptor_pb2.FileDescriptorProto.FromString(raw)
        except Exception:  # not a descriptor: any other gzip stream in the binary
            continue
        if not fd.package.startswith("k8s.io."):
            continue
        for message in fd.message_type:
            messages[f"{fd.package}.{message.name}".removeprefix("k8s.io.")] = message
    return messages


def schema(messages: dict[str, descriptor_pb2.DescriptorProto]) -> dict[str, dict[str, list]]:
    out: dict[str, dict[str, list]] = {}
    todo = list(ROOTS)
    while todo:
        name = todo.pop()
        if name in out:
            continue
        message = messages[name]
        entries = {f"{name}.{nested.name}": nested for nested in message.nested_type}
        fields: dict[str, list] = {}
        for field in message.field:
            repeated = field.label == T.LABEL_REPEATED
            if field.type == T.TYPE_MESSAGE:
                ref = field.type_name.lstrip(".").removeprefix("k8s.io.")
                entry = entries.get(ref)
                if entry is not None and entry.options.map_entry:
                    value = entry.field[1]
                    if value.type == T.TYPE_MESSAGE:
                        target = value.type_name.lstrip(".").removeprefix("k8s.io.")
                        todo.append(target)
                    else:
                        target = SCALARS[value.type]
                    fields[str(field.number)] = [field.name, "map", target]
                    continue
                todo.append(ref)
                fields[str(field.number)] = [field.name, "message", ref, repeated]
            else:
                fields[str(field.number)] = [field.name, SCALARS[field.type], None, repeated]
        out[name] = fields
    return dict(sorted(out.items()))


def main() -> None:
    binary = Path(sys.argv[1] if len(sys.argv) > 1 else "/usr/bin/kubectl").resolve()
    table = schema(descriptors(binary))
    OUT.write_text(json.dumps(table, separators=(",", ":"), sort_keys=True) + "\n")
    print(f"{OUT}: {len(table)} messages")


if __name__ == "__main__":
    main()
