"""Strategic merge patch (`application/strategic-merge-patch+json`), a faithful subset.

What is implemented, following apimachinery's `strategicpatch` on the server side:

- Maps merge recursively; `null` deletes a key; a value of another type replaces.
- Lists whose Go field carries `patchStrategy:"merge"` merge; every other list is replaced.
  Lists of objects merge by their `patchMergeKey` (the `_RULES` table, taken from the
  `k8s.io/api` struct tags of Pod, Node, Service, Endpoints, Deployment, ReplicaSet, DaemonSet,
  StatefulSet, PersistentVolumeClaim, ConfigMap, Namespace, Lease and Event); lists of scalars
  with the merge strategy (`metadata.finalizers`, `spec.podCIDRs`) merge as ordered sets.
  Node taints, tolerations, container args and Endpoints subsets have no merge strategy in
  Kubernetes, so a patch replaces them.
- Order: without `$setElementOrder`, the items a patch names come in patch order and the
  items it leaves alone keep their place relative to them, so a new item comes first (as in
  Kubernetes). `$setElementOrder/<list>` sets the order explicitly (kubectl apply sends it).
  A merge list the object did not have yet is taken from the patch as it is.
- Directives: `$patch: replace|delete` in a map (delete empties the map, as Kubernetes does),
  `$patch: replace|delete` as a list item, `$retainKeys`, `$setElementOrder/<list>` and
  `$deleteFromPrimitiveList/<list>`. Any other `$`-key is a 400.

Left out: the per-field `patchStrategy:"replace"` and `retainKeys` tags (no built-in field of
these kinds needs the first, and the second only tells clients to send `$retainKeys`, which
is honoured), schema errors for unknown fields (there is no Go struct to check against), and
the client-side patch computations (two- and three-way diffs).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from minik8s.api import errors

Path = tuple[str, ...]
"""Field names from the object's root to a value; list positions are left out."""


@dataclass(frozen=True)
class MergeList:
    """A list field with `patchStrategy:"merge"`."""

    key: str | None
    """Its `patchMergeKey`; None for a list of scalars, merged as an ordered set."""


def _under(prefix: Path, rules: Mapping[Path, MergeList]) -> dict[Path, MergeList]:
    return {prefix + path: rule for path, rule in rules.items()}


def _pod_spec_lists() -> dict[Path, MergeList]:
    container_lists: dict[Path, MergeList] = {
        ("ports",): MergeList("containerPort"),
        ("env",): MergeList("name"),
        ("volumeMounts",): MergeList("mountPath"),
        ("volumeDevices",): MergeList("devicePath"),
    }
    rules: dict[Path, MergeList] = {
        ("volumes",): MergeList("name"),
        ("imagePullSecrets",): MergeList("name"),
        ("hostAliases",): MergeList("ip"),
        ("topologySpreadConstraints",): MergeList("topologyKey"),
        ("schedulingGates",): MergeList("name"),
        ("resourceClaims",): MergeList("name"),
    }
    for containers in ("containers", "initContainers", "ephemeralContainers"):
        rules[(containers,)] = MergeList("name")
        rules.update(_under((containers,), container_lists))
    return rules


def _build_rules() -> dict[str, dict[Path, MergeList]]:
    object_meta: dict[Path, MergeList] = {
        ("finalizers",): MergeList(None),
        ("ownerReferences",): MergeList("uid"),
    }
    meta = _under(("metadata",), object_meta)
    conditions: dict[Path, MergeList] = {("status", "conditions"): MergeList("type")}
    pod_status: dict[Path, MergeList] = {
        ("conditions",): MergeList("type"),
        ("podIPs",): MergeList("ip"),
        ("hostIPs",): MergeList("ip"),
        ("resourceClaimStatuses",): MergeList("name"),
    }
    template = {
        **_under(("spec", "template", "metadata"), object_meta),
        **_under(("spec", "template", "spec"), _pod_spec_lists()),
    }
    return {
        "Pod": {**meta, **_under(("spec",), _pod_spec_lists()), **_under(("status",), pod_status)},
        "Node": {
            **meta,
            ("spec", "podCIDRs"): MergeList(None),
            ("status", "conditions"): MergeList("type"),
            ("status", "addresses"): MergeList("type"),
        },
        "Service": {**meta, ("spec", "ports"): MergeList("port"), **conditions},
        "Deployment": {**meta, **template, **conditions},
        "ReplicaSet": {**meta, **template, **conditions},
        "DaemonSet": {**meta, **template, **conditions},
        "StatefulSet": {**meta, **template, **conditions},
        "PersistentVolumeClaim": {**meta, **conditions},
        "Namespace": {**meta, **conditions},
        "HorizontalPodAutoscaler": {**meta, **conditions},
        "APIService": {**meta, **conditions},
        # Endpoints, ConfigMap, Lease, Event and unknown kinds: object metadata only.
        "": meta,
    }


_RULES = _build_rules()

GO_MAP = "map[string]interface {}"
"""How Go names the type a patch body decodes into, in decoding errors."""

DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
SET_ELEMENT_ORDER = "$setElementOrder/"
DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList/"


def merge_lists_of(kind: str) -> Mapping[Path, MergeList]:
    """The merge lists of `kind`, by path from the object's root."""
    return _RULES.get(kind, _RULES[""])


def rejected_patch(detail: str) -> errors.Invalid:
    """The 422 Kubernetes answers for a patch that parses but cannot be applied.

    Kubernetes replaces the detail by a generic message; we keep its message and carry the
    detail as a cause, so a human can still learn what went wrong.
    """
    return errors.Invalid(
        "the server rejected our request due to an error in our request",
        causes=[errors.Cause("patch", detail, "FieldValueInvalid")],
    )


def apply_strategic_merge_patch(target: Mapping[str, Any], patch: Any, kind: str) -> dict[str, Any]:
    """Apply a strategic merge patch to `target` (a `kind` object); the inputs are not changed."""
    if patch is None:
        return copy_json(target)  # Kubernetes decodes a `null` patch to no change at all.
    if not isinstance(patch, Mapping):
        raise errors.BadRequest(
            f"json: cannot unmarshal {json_type(patch)} into Go value of type {GO_MAP}"
        )
    return _Merger(merge_lists_of(kind)).merge_map(copy_json(target), patch, ())


class _Merger:
    """One patch application. `merge_*` take ownership of `original` and change it in place."""

    def __init__(self, rules: Mapping[Path, MergeList]) -> None:
        self._rules = rules

    def merge_map(
        self, original: dict[str, Any], patch: Mapping[str, Any], path: Path
    ) -> dict[str, Any]:
        if DIRECTIVE in patch:
            directive = patch[DIRECTIVE]
            if directive == "replace":
                rest = {k: v for k, v in patch.items() if k != DIRECTIVE}
                return self.merge_map({}, rest, path)
            if directive == "delete":
                return {}
            raise errors.BadRequest(f"unknown patch type: {directive} in map: {_show(patch)}")
        pending = dict(patch)
        _retain_keys(original, pending)
        self._set_element_orders(original, pending, path)
        for key in [k for k in pending if k.startswith(DELETE_FROM_PRIMITIVE_LIST)]:
            _delete_from_primitive_list(
                original, key[len(DELETE_FROM_PRIMITIVE_LIST) :], pending.pop(key)
            )
        for key, value in pending.items():
            if key.startswith("$"):
                raise errors.BadRequest(f"unknown strategic merge patch directive: {key}")
            if value is None:
                original.pop(key, None)
            elif isinstance(original.get(key), dict) and isinstance(value, Mapping):
                original[key] = self.merge_map(original[key], value, (*path, key))
            elif isinstance(original.get(key), list) and isinstance(value, list):
                original[key] = self.merge_list(original[key], value, (*path, key))
            else:
                original[key] = self.fresh(value, (*path, key))
        return original

    def fresh(self, value: Any, path: Path) -> Any:
        """A patch value stored where nothing (or a value of another type) was."""
        if isinstance(value, Mapping):
            return self.merge_map({}, value, path)
        if isinstance(value, list) and path in self._rules:
            # Taken as it is, like Kubernetes does: validation, not the patch, judges the items.
            return [
                self.fresh(item, path)
                for item in value
                if not (isinstance(item, Mapping) and DIRECTIVE in item)
            ]
        if isinstance(value, list):
            return [_without_nulls(item) for item in value]
        return value

    def merge_list(self, original: list[Any], patch: list[Any], path: Path) -> list[Any]:
        rule = self._rules.get(path)
        if rule is None:
            return [_without_nulls(item) for item in patch]
        entries = self._merged_entries(original, patch, rule, path)
        return _arrange(entries, patch, rule)

    def _merged_entries(
        self, original: list[Any], patch: list[Any], rule: MergeList, path: Path
    ) -> list[tuple[int | None, Any]]:
        """The merged items, each with its position in `original` (None for a new item)."""
        if rule.key is None:
            return _merged_scalars(original, patch)
        key = rule.key
        replace, deleted, items = _special_elements(patch, key)
        entries: list[tuple[int | None, Any]] = []
        by_key: dict[str, int] = {}
        """Merge key identity -> index in `entries` of the first item with it (linear merge)."""
        if not replace:
            for i, item in enumerate(original):
                identity = _identity(item[key]) if isinstance(item, dict) and key in item else None
                if identity is not None and identity in deleted:
                    continue
                if identity is not None:
                    by_key.setdefault(identity, len(entries))
                entries.append((i, item))
        for item in items:
            wanted = _identity(item[key])
            found = by_key.get(wanted)
            if found is None:
                by_key[wanted] = len(entries)
                entries.append((None, self.merge_map({}, item, path)))
            else:
                position, current = entries[found]
                entries[found] = (position, self.merge_map(current, item, path))
        return entries

    def _set_element_orders(
        self, original: dict[str, Any], patch: dict[str, Any], path: Path
    ) -> None:
        """Merge each list named by a `$setElementOrder/<list>`, and put it in that order."""
        for directive in [k for k in patch if k.startswith(SET_ELEMENT_ORDER)]:
            order = patch.pop(directive)
            field = directive[len(SET_ELEMENT_ORDER) :]
            if not isinstance(order, list):
                raise errors.BadRequest("invalid patch format of setElementOrder list")
            rule = self._rules.get((*path, field))
            current, changes = original.get(field), patch.get(field)
            if rule is None or (field in patch and changes is None):
                continue  # Only merge lists have an order to keep; a null deletes the list.
            if current is None and changes is None:
                continue
            if not isinstance(current or [], list) or not isinstance(changes or [], list):
                continue  # A type change: the ordinary merge replaces the value.
            _check_order_covers_patch(changes or [], order, rule)
            entries = self._merged_entries(current or [], changes or [], rule, (*path, field))
            original[field] = _arrange(entries, order, rule)
            patch.pop(field, None)


def _special_elements(patch: list[Any], key: str) -> tuple[bool, set[str], list[Mapping[str, Any]]]:
    """Split a keyed patch list into (`$patch: replace` seen, keys to delete, items to merge)."""
    replace, deleted = False, set()
    items: list[Mapping[str, Any]] = []
    for item in patch:
        if not isinstance(item, Mapping):
            if isinstance(item, list):
                raise rejected_patch("lists of lists are not supported")
            raise errors.BadRequest(f"expected a map, but received a {json_type(item)}")
        directive = item.get(DIRECTIVE)
        if directive == "replace":
            replace = True
            continue
        if directive not in (None, "delete"):
            if directive == "merge":
                raise errors.BadRequest("merging lists cannot yet be specified in the patch")
            raise errors.BadRequest(f"unknown patch type: {directive} in map: {_show(item)}")
        if key not in item:
            raise errors.BadRequest(
                f"map: {_show(item)} does not contain declared merge key: {key}"
            )
        if directive == "delete":
            deleted.add(_identity(item[key]))
        else:
            items.append(item)
    return replace, deleted, items


def _merged_scalars(original: list[Any], patch: list[Any]) -> list[tuple[int | None, Any]]:
    """The union of two scalar lists, duplicates dropped, original items first."""
    _require_scalars(patch)
    seen: set[str] = set()
    entries: list[tuple[int | None, Any]] = []
    for position, value in [*enumerate(original), *((None, v) for v in patch)]:
        identity = _identity(value)
        if identity not in seen:
            seen.add(identity)
            entries.append((position, value))
    return entries


def _arrange(
    entries: list[tuple[int | None, Any]], order: Sequence[Any], rule: MergeList
) -> list[Any]:
    """Put the items named by `order` in that order, and slot the others back among them.

    An item `order` does not name keeps its place from the original list: it goes before the
    next ordered item only if that item was also in the original list, after it. So items new
    to the list come before the untouched ones that follow them (Kubernetes' behaviour).
    """
    positions: dict[str, int] = {}
    for index, item in enumerate(order):
        identity = _order_identity(item, rule)
        if identity is not None:
            positions.setdefault(identity, index)
    ordered: list[tuple[int, int | None, Any]] = []
    others: list[tuple[int | None, Any]] = []
    for position, value in entries:
        identity = _order_identity(value, rule)
        rank = None if identity is None else positions.get(identity)
        if rank is None:
            others.append((position, value))
        else:
            ordered.append((rank, position, value))
    ordered.sort(key=lambda entry: entry[0])
    result: list[Any] = []
    i = j = 0
    while i < len(others) and j < len(ordered):
        other_position, ordered_position = others[i][0], ordered[j][1]
        if (
            other_position is not None
            and ordered_position is not None
            and other_position < ordered_position
        ):
            result.append(others[i][1])
            i += 1
        else:
            result.append(ordered[j][2])
            j += 1
    result += [value for _, value in others[i:]]
    result += [value for _, _, value in ordered[j:]]
    return result


def _check_order_covers_patch(changes: list[Any], order: list[Any], rule: MergeList) -> None:
    named = {_order_identity(item, rule) for item in order}
    for item in changes:
        if isinstance(item, Mapping) and DIRECTIVE in item:
            continue
        if _order_identity(item, rule) not in named:
            raise errors.BadRequest(
                f"The order in patch list:\n{_show(changes)}\n doesn't match "
                f"{SET_ELEMENT_ORDER} list:\n{_show(order)}\n"
            )


def _retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    if RETAIN_KEYS not in patch:
        return
    keep = patch.pop(RETAIN_KEYS)
    if not isinstance(keep, list) or not all(isinstance(k, str) for k in keep):
        raise errors.BadRequest("invalid patch format of retainKeys")
    for key, value in patch.items():
        special = key.startswith((DELETE_FROM_PRIMITIVE_LIST, SET_ELEMENT_ORDER))
        if value is not None and not special and key not in keep:
            raise errors.BadRequest("invalid patch format of retainKeys")
    for key in [k for k in original if k not in keep]:
        del original[key]


def _delete_from_primitive_list(original: dict[str, Any], field: str, values: Any) -> None:
    if not isinstance(values, list):
        raise errors.BadRequest("invalid patch format of primitive list")
    _require_scalars(values, message="invalid patch format of primitive list")
    current = original.get(field)
    if isinstance(current, list):
        doomed = {_identity(value) for value in values}
        original[field] = [item for item in current if _identity(item) not in doomed]


def _require_scalars(values: list[Any], message: str | None = None) -> None:
    for value in values:
        if isinstance(value, list):
            raise rejected_patch("lists of lists are not supported")
        if isinstance(value, Mapping):
            raise errors.BadRequest(message or "expected a scalar, but received a map")


def _order_identity(item: Any, rule: MergeList) -> str | None:
    """What identifies a list item for ordering: its merge key value, or itself for scalars."""
    if rule.key is None:
        return _identity(item)
    if isinstance(item, Mapping) and rule.key in item:
        return _identity(item[rule.key])
    return None


def _identity(value: Any) -> str:
    # JSON text tells 1 from "1" and true from 1, which Python's == does not.
    return json.dumps(value, sort_keys=True)


def _without_nulls(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


def copy_json(value: Any) -> Any:
    """A deep copy of JSON data (faster than `copy.deepcopy`): dicts and lists are copied
    (other mappings become dicts), scalars are shared."""
    if isinstance(value, dict):  # the usual case first: the ABC check below is slow
        return {k: v if isinstance(v, _SCALARS) else copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [v if isinstance(v, _SCALARS) else copy_json(v) for v in value]
    if isinstance(value, Mapping):
        return {k: copy_json(v) for k, v in value.items()}
    return value


_SCALARS = (str, int, float, type(None))


def json_type(value: Any) -> str:
    """The JSON type name of a value, as Go's decoder names it in errors."""
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "string" if isinstance(value, str) else "null"


def _show(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
