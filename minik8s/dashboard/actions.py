"""What the pages ask the apiserver for, as the signed-in user: objects and their Events,
YAML view and edit, scale, rollout restart, delete. Every refusal is the apiserver's own
`Status` (code, reason, message, causes), which the page shows as it is."""

from __future__ import annotations

from typing import Any

import yaml

from minik8s.api import errors, meta, resources, rollback, times
from minik8s.api.resources import ResourceType
from minik8s.client.api import ApiClient

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
"""The pod-template annotation `kubectl rollout restart` sets."""
SCALABLE = frozenset({"deployments", "replicasets", "statefulsets", "replicationcontrollers"})
RESTARTABLE = frozenset({"deployments", "daemonsets", "statefulsets"})
MAX_YAML = 1 << 20


def resource(plural: str) -> ResourceType:
    rt = resources.by_plural(plural)
    if rt is None:
        raise errors.NotFound(f'the server doesn\'t have a resource type "{plural}"')
    return rt


def namespace_arg(rt: ResourceType, namespace: str) -> str | None:
    return namespace if rt.namespaced and namespace != "-" else None


async def get_with_events(client: ApiClient, plural: str, namespace: str, name: str) -> dict:
    """The object and the Events about it (`kubectl describe`'s Events)."""
    rt = resource(plural)
    obj = await client.get(rt, name, namespace_arg(rt, namespace))
    events: list[dict] = []
    try:
        listed = await client.list(
            resources.EVENTS,
            meta.namespace_of(obj) or None,
            field_selector=f"involvedObject.uid={meta.uid_of(obj)}",
        )
        events = listed.get("items") or []
    except errors.Forbidden:
        pass  # the page says so: no Events shown
    if plural == "secrets":
        obj = {**obj, "data": {k: None for k in (obj.get("data") or {})}}
    return {"object": obj, "events": events}


async def reveal_secret(client: ApiClient, namespace: str, name: str) -> dict:
    """The Secret's values, only when the user asks (and RBAC lets them `get` it)."""
    return await client.get(resources.SECRETS, name, namespace)


async def as_yaml(client: ApiClient, plural: str, namespace: str, name: str) -> str:
    rt = resource(plural)
    obj = await client.get(rt, name, namespace_arg(rt, namespace))
    obj.get("metadata", {}).pop("managedFields", None)
    return yaml.safe_dump(obj, sort_keys=False)


async def replace_from_yaml(
    client: ApiClient, plural: str, namespace: str, name: str, text: str
) -> dict:
    """PUT the edited object; the apiserver validates it (422 with field causes)."""
    rt = resource(plural)
    if len(text) > MAX_YAML:
        raise errors.RequestEntityTooLarge("the edited object is larger than 1 MiB")
    try:
        obj = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise errors.BadRequest(f"the YAML is not valid{where}") from e
    if not isinstance(obj, dict):
        raise errors.BadRequest("the YAML must be one object (a mapping)")
    md = obj.get("metadata") or {}
    if md.get("name") != name or (rt.namespaced and md.get("namespace", namespace) != namespace):
        raise errors.BadRequest("metadata.name and metadata.namespace cannot be changed here")
    return await client.update(rt, obj)


async def scale(client: ApiClient, plural: str, namespace: str, name: str, replicas: Any) -> dict:
    if plural not in SCALABLE:
        raise errors.BadRequest(f"{plural} cannot be scaled")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or not 0 <= replicas <= 10_000:
        raise errors.BadRequest("replicas must be a whole number from 0 to 10000")
    rt = resource(plural)
    return await client.patch(
        rt, name, {"spec": {"replicas": replicas}}, namespace=namespace, subresource="scale"
    )


async def restart(client: ApiClient, plural: str, namespace: str, name: str) -> dict:
    """`kubectl rollout restart`: a new pod-template annotation, so a new rollout."""
    if plural not in RESTARTABLE:
        raise errors.BadRequest(f"{plural} cannot be restarted")
    body = {
        "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: times.now_rfc3339()}}}}
    }
    return await client.patch(resource(plural), name, body, namespace=namespace)


async def undo(client: ApiClient, plural: str, namespace: str, name: str) -> dict:
    """`kubectl rollout undo deployment/NAME`: the previous revision's pod template."""
    if plural != "deployments":
        raise errors.BadRequest(
            f"rollout undo of {plural} is not in the dashboard yet: use minikctl rollout undo"
        )
    deploy = await client.get(resources.DEPLOYMENTS, name, namespace)
    listed = await client.list_all(resources.REPLICASETS, namespace)
    owned = [rs for rs in listed.get("items") or [] if meta.find_owner(rs, meta.uid_of(deploy))]
    template = rollback.undo_template(owned, rollback.revision_of(deploy), 0)
    if template is None:
        raise errors.NotFound(f'no rollout history found for deployment "{name}"')
    patch = [{"op": "replace", "path": "/spec/template", "value": template}]
    return await client.patch(
        resources.DEPLOYMENTS, name, patch, namespace=namespace, patch_type="json"
    )


async def delete(client: ApiClient, plural: str, namespace: str, name: str) -> dict:
    rt = resource(plural)
    return await client.delete(
        rt, name, namespace_arg(rt, namespace), propagation_policy="Background"
    )


async def run_pod(client: ApiClient, namespace: str, name: Any, image: Any) -> dict:
    """`kubectl run NAME --image=IMAGE` (the architecture view's "run and follow")."""
    if not isinstance(name, str) or not isinstance(image, str) or not name or not image:
        raise errors.BadRequest("a pod name and an image are needed")
    pod = {
        "metadata": {"name": name, "namespace": namespace, "labels": {"run": name}},
        "spec": {"containers": [{"name": name, "image": image}]},
    }
    return await client.create(resources.PODS, pod, namespace)
