"""The `metrics.k8s.io/v1beta1` documents (pure): NodeMetrics, PodMetrics, their lists and
Tables, and the discovery documents of the group, as metrics-server writes them."""

from __future__ import annotations

from datetime import UTC, datetime

from minik8s.api import quantity, times
from minik8s.api.meta import Object
from minik8s.metricsserver.storage import Usage, window_text

GROUP = "metrics.k8s.io"
VERSION = "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"


def resource_list() -> Object:
    """`GET /apis/metrics.k8s.io/v1beta1`."""
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": API_VERSION,
        "resources": [
            {"name": "nodes", "singularName": "", "namespaced": False, "kind": "NodeMetrics",
             "verbs": ["get", "list"]},
            {"name": "pods", "singularName": "", "namespaced": True, "kind": "PodMetrics",
             "verbs": ["get", "list"]},
        ],
    }  # fmt: skip


def api_group() -> Object:
    version = {"groupVersion": API_VERSION, "version": VERSION}
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": GROUP,
        "versions": [version],
        "preferredVersion": version,
    }


def _stamp(seconds: float) -> str:
    return times.format_time(datetime.fromtimestamp(seconds, UTC))


def node_metrics(node: Object, usage: Usage) -> Object:
    metadata = node.get("metadata") or {}
    return {
        "kind": "NodeMetrics",
        "apiVersion": API_VERSION,
        "metadata": {
            "name": metadata.get("name"),
            "creationTimestamp": times.now_rfc3339(),
            **({"labels": metadata["labels"]} if metadata.get("labels") else {}),
        },
        "timestamp": _stamp(usage.timestamp),
        "window": window_text(usage.window),
        "usage": usage.as_resources(),
    }


def pod_metrics(pod: Object, containers: dict[str, Usage]) -> Object:
    metadata = pod.get("metadata") or {}
    newest = max(containers.values(), key=lambda u: u.timestamp)
    return {
        "kind": "PodMetrics",
        "apiVersion": API_VERSION,
        "metadata": {
            "name": metadata.get("name"),
            "namespace": metadata.get("namespace"),
            "creationTimestamp": times.now_rfc3339(),
            **({"labels": metadata["labels"]} if metadata.get("labels") else {}),
        },
        "timestamp": _stamp(newest.timestamp),
        "window": window_text(newest.window),
        "containers": [
            {"name": name, "usage": usage.as_resources()}
            for name, usage in sorted(containers.items())
        ],
    }


def metrics_list(kind: str, items: list[Object]) -> Object:
    return {
        "kind": f"{kind}List",
        "apiVersion": API_VERSION,
        "metadata": {},
        "items": items,
    }


_COLUMNS = [
    {"name": "Name", "type": "string", "format": "name", "description": "Name of the object."},
    {"name": "CPU", "type": "string", "format": "", "description": "CPU consumption."},
    {"name": "Memory", "type": "string", "format": "", "description": "Memory consumption."},
    {"name": "Window", "type": "string", "format": "", "description": "Usage window."},
]


def table(items: list[Object]) -> Object:
    """A meta.k8s.io/v1 Table (`kubectl get nodes.metrics.k8s.io`)."""
    rows = []
    for item in items:
        usages = [item["usage"]] if "usage" in item else [c["usage"] for c in item["containers"]]
        cpu = sum(quantity.cpu_millis(u["cpu"]) for u in usages)
        memory = sum(quantity.memory_bytes(u["memory"]) for u in usages)
        rows.append(
            {
                "cells": [item["metadata"]["name"], f"{cpu}m", f"{memory // (1 << 20)}Mi",
                          item["window"]],
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": item["metadata"],
                },
            }
        )  # fmt: skip
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "columnDefinitions": _COLUMNS,
        "rows": rows,
    }
