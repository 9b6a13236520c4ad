"""A Deployment's rollout decisions, pure (Kubernetes' pkg/controller/deployment/util and the
rolling, recreate and scaling steps): which ReplicaSet is new, how far each one may scale,
the pod-template-hash, the revision, and the status and conditions of the Deployment."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from minik8s.api import meta
from minik8s.api.meta import Object

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
NOT_COPIED_ANNOTATIONS = frozenset({
    "kubectl.kubernetes.io/last-applied-configuration", REVISION, DESIRED_REPLICAS, MAX_REPLICAS,
    "deployment.kubernetes.io/revision-history",
})  # fmt: skip

_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


# --- small accessors -------------------------------------------------------------------------


def replicas(obj: Mapping[str, Any]) -> int:
    """`spec.replicas` (1 when unset, as defaulting does)."""
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def status_int(obj: Mapping[str, Any], field: str) -> int:
    return int((obj.get("status") or {}).get(field) or 0)


def revision(rs: Mapping[str, Any]) -> int:
    try:
        return int((meta.meta(rs).get("annotations") or {}).get(REVISION) or 0)
    except ValueError:
        return 0


def is_rolling(d: Mapping[str, Any]) -> bool:
    strategy = (d.get("spec") or {}).get("strategy") or {}
    return (strategy.get("type") or "RollingUpdate") == "RollingUpdate"


# --- int-or-percent arithmetic ---------------------------------------------------------------


def scaled_value(value: int | str | None, total: int, round_up: bool) -> int:
    """An IntOrString as a count of `total`: `"25%"` of 10 is 3 rounded up, 2 rounded down."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text.endswith("%"):
        return int(text)
    percent = int(text[:-1])
    exact = percent * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def fenceposts(
    max_surge: int | str | None, max_unavailable: int | str | None, desired: int
) -> tuple[int, int]:
    """(surge, unavailable): surge rounds up, unavailable down; never both 0."""
    surge = scaled_value(max_surge, desired, round_up=True)
    unavailable = scaled_value(max_unavailable, desired, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _rolling_params(d: Mapping[str, Any]) -> tuple[Any, Any]:
    rolling = ((d.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}
    return rolling.get("maxSurge", "25%"), rolling.get("maxUnavailable", "25%")


def max_surge(d: Mapping[str, Any]) -> int:
    if not is_rolling(d):
        return 0
    return fenceposts(*_rolling_params(d), replicas(d))[0]


def max_unavailable(d: Mapping[str, Any]) -> int:
    if not is_rolling(d) or replicas(d) == 0:
        return 0
    unavailable = fenceposts(*_rolling_params(d), replicas(d))[1]
    return min(unavailable, replicas(d))


# --- the template hash and the new ReplicaSet ---------------------------------------------------


def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for byte in data:
        h ^= byte
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(text: str) -> str:
    """apimachinery's rand.SafeEncodeString: no vowels, no look-alike characters."""
    return "".join(_SAFE_ALPHABET[ord(c) % len(_SAFE_ALPHABET)] for c in text)


def template_without_hash(template: Mapping[str, Any] | None) -> dict[str, Any]:
    """The template without the hash label and without null or empty fields, which Go
    clients (kubectl rollout undo) add or drop freely (`creationTimestamp: null`, `{}`)."""
    result = copy.deepcopy(dict(template or {}))
    labels = (result.get("metadata") or {}).get("labels")
    if labels and HASH_LABEL in labels:
        labels = dict(labels)
        del labels[HASH_LABEL]
        result["metadata"] = {**result["metadata"], "labels": labels}
    return _pruned(result)


def _pruned(value: Any) -> Any:
    if isinstance(value, dict):
        pruned = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def template_hash(template: Mapping[str, Any] | None, collision_count: int = 0) -> str:
    """The pod-template-hash of a Deployment's template (FNV-32a, safe-encoded)."""
    data = orjson.dumps(template_without_hash(template), option=orjson.OPT_SORT_KEYS)
    if collision_count:
        data += str(collision_count).encode()
    return safe_encode(str(fnv32a(data)))


def templates_equal(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    """Equal ignoring the pod-template-hash label (Kubernetes' EqualIgnoreHash)."""
    return template_without_hash(a) == template_without_hash(b)


def find_new_rs(d: Mapping[str, Any], rss: Iterable[Object]) -> Object | None:
    """The oldest ReplicaSet whose template is the Deployment's."""
    template = (d.get("spec") or {}).get("template")
    matching = [rs for rs in rss if templates_equal((rs.get("spec") or {}).get("template"),
                                                    template)]  # fmt: skip
    return min(matching, key=_age_key) if matching else None


def _age_key(rs: Mapping[str, Any]) -> tuple[float, str]:
    return (meta.creation_time(rs).timestamp(), meta.name_of(rs))


def by_age(rss: Iterable[Object]) -> list[Object]:
    return sorted(rss, key=_age_key)


def copied_annotations(d: Mapping[str, Any]) -> dict[str, str]:
    annotations = meta.meta(d).get("annotations") or {}
    return {k: v for k, v in annotations.items() if k not in NOT_COPIED_ANNOTATIONS}


def new_rs_manifest(d: Object, rss: list[Object], collision_count: int, count: int) -> Object:
    """The new ReplicaSet for `d`'s template: `<deploy>-<hash>`, controlled by `d`."""
    from minik8s.api.resources import DEPLOYMENTS

    spec = d.get("spec") or {}
    template = copy.deepcopy(spec.get("template") or {})
    h = template_hash(template, collision_count)
    template_meta = template.setdefault("metadata", {})
    template_meta["labels"] = {**(template_meta.get("labels") or {}), HASH_LABEL: h}
    selector = copy.deepcopy(spec.get("selector") or {})
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: h}
    new_revision = max((revision(rs) for rs in rss), default=0) + 1
    annotations = {
        **copied_annotations(d),
        REVISION: str(new_revision),
        DESIRED_REPLICAS: str(replicas(d)),
        MAX_REPLICAS: str(replicas(d) + max_surge(d)),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{meta.name_of(d)}-{h}",
            "namespace": meta.namespace_of(d),
            "labels": dict(template_meta["labels"]),
            "annotations": annotations,
            "ownerReferences": [meta.owner_reference(DEPLOYMENTS, d)],
        },
        "spec": {
            "replicas": count,
            "minReadySeconds": int(spec.get("minReadySeconds") or 0),
            "selector": selector,
            "template": template,
        },
    }


# --- how far each ReplicaSet scales ---------------------------------------------------------


def new_rs_new_replicas(d: Mapping[str, Any], all_rss: list[Object], new_rs_replicas: int) -> int:
    """The new ReplicaSet's next size (Kubernetes' NewRSNewReplicas)."""
    if not is_rolling(d):
        return replicas(d)
    current = sum(replicas(rs) for rs in all_rss)
    max_total = replicas(d) + max_surge(d)
    if current >= max_total:
        return new_rs_replicas
    up = min(max_total - current, max(0, replicas(d) - new_rs_replicas))
    return new_rs_replicas + up


def old_rs_scale_down(
    d: Mapping[str, Any], new_rs: Object | None, old_rss: list[Object]
) -> dict[str, int]:
    """Old ReplicaSets' new sizes for a rolling update: unhealthy pods first, then as many
    available ones as `maxUnavailable` allows (Kubernetes' reconcileOldReplicaSets)."""
    sizes = {meta.name_of(rs): replicas(rs) for rs in old_rss}
    if sum(sizes.values()) == 0:
        return {}
    all_rss = [*old_rss, *([new_rs] if new_rs is not None else [])]
    all_pods = sum(replicas(rs) for rs in all_rss)
    min_available = replicas(d) - max_unavailable(d)
    new_unavailable = 0
    if new_rs is not None:
        new_unavailable = replicas(new_rs) - status_int(new_rs, "availableReplicas")
    max_scaled_down = all_pods - min_available - new_unavailable
    if max_scaled_down <= 0:
        return {}
    olds = by_age(old_rss)
    cleaned = 0
    for rs in olds:
        if cleaned >= max_scaled_down:
            break
        name, available = meta.name_of(rs), status_int(rs, "availableReplicas")
        if sizes[name] == 0 or sizes[name] <= available:
            continue
        count = min(max_scaled_down - cleaned, sizes[name] - available)
        sizes[name] -= count
        cleaned += count
    available_pods = sum(status_int(rs, "availableReplicas") for rs in all_rss)
    budget = available_pods - min_available
    scaled = 0
    for rs in olds:
        if scaled >= budget:
            break
        name = meta.name_of(rs)
        if sizes[name] == 0:
            continue
        count = min(sizes[name], budget - scaled)
        sizes[name] -= count
        scaled += count
    return {n: size for n, size in sizes.items() if size != replicas(_named(old_rss, n))}


def _named(rss: list[Object], name: str) -> Object:
    return next(rs for rs in rss if meta.name_of(rs) == name)


def active_or_latest(new_rs: Object | None, old_rss: list[Object]) -> Object | None:
    """The only ReplicaSet with replicas, or the newest when none has any; None if several."""
    if new_rs is None and not old_rss:
        return None
    olds = sorted(old_rss, key=_age_key, reverse=True)
    candidates = [*olds, *([new_rs] if new_rs is not None else [])]
    active = [rs for rs in candidates if replicas(rs) > 0]
    if not active:
        return new_rs if new_rs is not None else olds[0]
    if len(active) == 1:
        return active[0]
    return None


def is_scaling_event(d: Mapping[str, Any], rss: Iterable[Object]) -> bool:
    """An active ReplicaSet was sized for another `spec.replicas` than the Deployment's now."""
    for rs in rss:
        if replicas(rs) <= 0:
            continue
        desired = (meta.meta(rs).get("annotations") or {}).get(DESIRED_REPLICAS)
        if desired is not None and str(desired) != str(replicas(d)):
            return True
    return False


def is_saturated(d: Mapping[str, Any], rs: Object | None) -> bool:
    if rs is None:
        return False
    desired = (meta.meta(rs).get("annotations") or {}).get(DESIRED_REPLICAS)
    return (
        str(desired) == str(replicas(d))
        and replicas(rs) == replicas(d)
        and status_int(rs, "availableReplicas") == replicas(d)
    )


def proportional_sizes(
    d: Mapping[str, Any], new_rs: Object | None, old_rss: list[Object]
) -> dict[str, int]:
    """Sizes after `spec.replicas` changed mid-rollout (Kubernetes' `scale`)."""
    single = active_or_latest(new_rs, old_rss)
    if single is not None:
        if replicas(single) == replicas(d):
            return {}
        return {meta.name_of(single): replicas(d)}
    if is_saturated(d, new_rs):
        return {meta.name_of(rs): 0 for rs in old_rss if replicas(rs) > 0}
    if not is_rolling(d):
        return {}
    candidates = [*old_rss, *([new_rs] if new_rs is not None else [])]
    active = [rs for rs in candidates if replicas(rs) > 0]
    allowed = replicas(d) + max_surge(d) if replicas(d) > 0 else 0
    to_add = allowed - sum(replicas(rs) for rs in active)
    if to_add == 0:
        return {}
    newer_first = to_add > 0
    active.sort(key=lambda rs: (-replicas(rs), -_age_key(rs)[0] if newer_first
                                else _age_key(rs)[0]))  # fmt: skip
    sizes: dict[str, int] = {}
    added = 0
    for rs in active:
        proportion = _proportion(rs, d, to_add, added)
        sizes[meta.name_of(rs)] = replicas(rs) + proportion
        added += proportion
    first = meta.name_of(active[0])
    sizes[first] = max(0, sizes[first] + to_add - added)
    return {n: s for n, s in sizes.items() if s != replicas(_named(active, n))}


def _proportion(rs: Object, d: Mapping[str, Any], to_add: int, added: int) -> int:
    if replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = _fraction(rs, d)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def _fraction(rs: Object, d: Mapping[str, Any]) -> int:
    if replicas(d) == 0:
        return -replicas(rs)
    deployment_replicas = replicas(d) + max_surge(d)
    annotated = (meta.meta(rs).get("annotations") or {}).get(MAX_REPLICAS)
    try:
        base = int(annotated) if annotated is not None else status_int(d, "replicas")
    except ValueError:
        base = status_int(d, "replicas")
    if base <= 0:
        return 0
    size = replicas(rs) * deployment_replicas / base
    return math.floor(size + 0.5) - replicas(rs)


def history_to_delete(d: Mapping[str, Any], old_rss: list[Object]) -> list[Object]:
    """Old, empty ReplicaSets beyond `revisionHistoryLimit`, lowest revisions first."""
    limit = (d.get("spec") or {}).get("revisionHistoryLimit")
    if limit is None:
        return []
    alive = sorted((rs for rs in old_rss if not meta.is_deleting(rs)), key=revision)
    excess = len(alive) - int(limit)
    doomed = []
    for rs in alive[: max(0, excess)]:
        observed = status_int(rs, "observedGeneration")
        if replicas(rs) or status_int(rs, "replicas"):
            continue
        if int(meta.meta(rs).get("generation") or 0) > observed:
            continue
        doomed.append(rs)
    return doomed
