"""`minikctl expose deploy/NAME --port P [--target-port T] [--type NodePort] [--name N]`: the
Service kubectl expose generates, selecting the object's pods."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from minik8s.api import resources
from minik8s.api.resources import SERVICES
from minik8s.cli.minikctl import errors, output, session, targets
from minik8s.client.api import ApiClient

SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer")


def selector_of(rt: resources.ResourceType, obj: dict) -> dict[str, str]:
    spec = obj.get("spec") or {}
    if rt is resources.PODS:
        labels = (obj.get("metadata") or {}).get("labels") or {}
    elif rt is resources.SERVICES:
        labels = spec.get("selector") or {}
    else:
        selector = spec.get("selector") or {}
        if selector.get("matchExpressions"):
            raise errors.CliError("cannot expose an object whose selector has matchExpressions")
        labels = selector.get("matchLabels") or {}
    if not labels:
        raise errors.CliError(
            f"couldn't retrieve selectors via --selector flag or introspection: the "
            f"{rt.kind} has no labels to select its pods"
        )
    return dict(labels)


def container_ports(rt: resources.ResourceType, obj: dict) -> list[dict[str, Any]]:
    spec = obj.get("spec") or {}
    if rt is resources.SERVICES:
        return [{"containerPort": p.get("port"), "protocol": p.get("protocol", "TCP")}
                for p in spec.get("ports") or []]  # fmt: skip
    pod_spec = spec if rt is resources.PODS else (spec.get("template") or {}).get("spec") or {}
    return [p for c in pod_spec.get("containers") or [] for p in c.get("ports") or []]


def service_manifest(
    rt: resources.ResourceType,
    obj: dict,
    *,
    name: str | None,
    port: int | None,
    target_port: str | None,
    protocol: str,
    service_type: str | None,
) -> dict[str, Any]:
    """The Service `kubectl expose` builds for `obj`."""
    meta = obj.get("metadata") or {}
    if port is not None:
        ports: list[dict[str, Any]] = [{"port": port, "protocol": protocol}]
    else:
        found = container_ports(rt, obj)
        if not found:
            raise errors.CliError("couldn't find port via --port flag or introspection")
        ports = [{"port": p["containerPort"], "protocol": p.get("protocol", "TCP")} for p in found]
    for index, p in enumerate(ports):
        if target_port is not None:
            p["targetPort"] = int(target_port) if target_port.isdigit() else target_port
        else:
            p["targetPort"] = p["port"]
        if len(ports) > 1:
            p["name"] = f"port-{index + 1}"
    spec: dict[str, Any] = {"ports": ports, "selector": selector_of(rt, obj)}
    if service_type:
        if service_type not in SERVICE_TYPES:
            raise errors.CliError(f"invalid service type {service_type!r}: "
                                  f"{', '.join(SERVICE_TYPES)}")  # fmt: skip
        spec["type"] = service_type
    service_meta: dict[str, Any] = {"name": name or meta["name"]}
    if meta.get("labels"):
        service_meta["labels"] = dict(meta["labels"])
    return {"apiVersion": "v1", "kind": "Service", "metadata": service_meta, "spec": spec}


def register(app: typer.Typer) -> None:
    @app.command("expose", help="Create a Service selecting the pods of an object.")
    def expose(
        ctx: typer.Context,
        args: Annotated[list[str], typer.Argument(help="TYPE NAME | TYPE/NAME")],
        port: Annotated[int | None, typer.Option("--port", help="The service's port")] = None,
        target_port: Annotated[
            str | None, typer.Option("--target-port", help="The pods' port (number or name)")
        ] = None,
        protocol: Annotated[str, typer.Option("--protocol")] = "TCP",
        service_type: Annotated[
            str | None, typer.Option("--type", help="ClusterIP, NodePort or LoadBalancer")
        ] = None,
        name: Annotated[str | None, typer.Option("--name", help="The service's name")] = None,
    ) -> None:
        s = session.of(ctx)
        with errors.handled():
            target = targets.one(args)
            if target.rt not in (resources.PODS, resources.SERVICES, resources.DEPLOYMENTS,
                                 resources.REPLICASETS):  # fmt: skip
                raise errors.CliError(f"cannot expose a {target.rt.kind}")

        async def go(client: ApiClient) -> None:
            assert target.name is not None
            obj = await client.get(target.rt, target.name, s.namespace)
            service = service_manifest(
                target.rt, obj, name=name, port=port, target_port=target_port,
                protocol=protocol, service_type=service_type,
            )  # fmt: skip
            created = await client.create(SERVICES, service, s.namespace)
            output.echo(f"{targets.ref(SERVICES, created['metadata']['name'])} exposed")

        s.run(go)
