"""Discovery entries of the available extension groups: legacy APIGroup entries for `/apis`
and `apidiscovery.k8s.io/v2` items built from the APIResourceLists their servers answered.
A group whose APIService is not Available is left out, so clients (kubectl, Helm) never see a
group that fails."""

from __future__ import annotations

from minik8s.api.meta import Object
from minik8s.apiserver.aggregator.controller import Aggregator, Served


def _version_entry(entry: Served) -> dict[str, str]:
    return {"groupVersion": f"{entry.group}/{entry.version}", "version": entry.version}


def api_groups(aggregator: Aggregator | None) -> list[Object]:
    if aggregator is None:
        return []
    out = []
    for group, entries in aggregator.groups():
        versions = [_version_entry(e) for e in entries]
        out.append({"name": group, "versions": versions, "preferredVersion": versions[0]})
    return out


def api_group(aggregator: Aggregator | None, group: str) -> Object | None:
    for entry in api_groups(aggregator):
        if entry["name"] == group:
            return {"kind": "APIGroup", "apiVersion": "v1", **entry}
    return None


def _aggregated_resources(entry: Served) -> list[Object]:
    rows = entry.resources.get("resources") or []
    parents: dict[str, Object] = {}
    for row in rows:
        name = row.get("name", "")
        if "/" in name:
            continue
        parents[name] = {
            "resource": name,
            "responseKind": {
                "group": row.get("group", entry.group),
                "version": row.get("version", entry.version),
                "kind": row.get("kind", ""),
            },
            "scope": "Namespaced" if row.get("namespaced") else "Cluster",
            "singularResource": row.get("singularName", ""),
            "verbs": list(row.get("verbs") or []),
        }
        for key in ("shortNames", "categories"):
            if row.get(key):
                parents[name][key] = list(row[key])
    for row in rows:
        parent, _, sub = row.get("name", "").partition("/")
        if sub and parent in parents:
            parents[parent].setdefault("subresources", []).append(
                {
                    "subresource": sub,
                    "responseKind": {
                        "group": row.get("group", entry.group),
                        "version": row.get("version", entry.version),
                        "kind": row.get("kind", ""),
                    },
                    "verbs": list(row.get("verbs") or []),
                }
            )
    return sorted(parents.values(), key=lambda r: r["resource"])


def aggregated_items(aggregator: Aggregator | None) -> list[Object]:
    if aggregator is None:
        return []
    return [
        {
            "metadata": {"name": group},
            "versions": [
                {
                    "version": e.version,
                    "resources": _aggregated_resources(e),
                    "freshness": "Current",
                }
                for e in entries
            ],
        }
        for group, entries in aggregator.groups()
    ]
