"""Field managers: `metadata.managedFields` kept for every write, and server-side apply.

As Kubernetes' field manager does (pure functions over dicts; the apiserver calls them):

- every create, update and patch records, under the request's `fieldManager` (else the
  User-Agent's first word) with operation `Update`, the fields it added or changed, and takes
  them away from every other manager; fields it removed leave every manager;
- an apply (`application/apply-patch+yaml`) merges the configuration into the live object,
  makes the applier own exactly the configuration's fields, removes the fields it owned last
  time and no longer applies when nobody else owns them, and refuses to change a field
  another manager owns (409 Conflict naming each manager and field) unless `force=true`,
  which takes the field over;
- `kubectl` (kubectl's server-side apply manager) may take over, without force, the fields
  an earlier client-side apply set to the same values (its last-applied annotation), and keeps
  that annotation current;
- a status write (`.../status`) records only `status` (subresource "status"), a write of the
  main resource never records `status` for kinds that have a status subresource, a scale
  write records `spec.replicas` (subresource "scale"); server-owned metadata is never owned.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from minik8s.api import errors, times
from minik8s.api.fieldmanager import fieldpath, typed
from minik8s.api.fieldmanager.fieldpath import FieldSet
from minik8s.api.fieldmanager.schema import Kind, Schema
from minik8s.api.meta import Object

APPLY, UPDATE = "Apply", "Update"
MAX_UPDATE_MANAGERS = 10
"""Update managers kept before the oldest merge into `ancient-changes` (as Kubernetes)."""
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
KUBECTL_APPLY_MANAGER = "kubectl"
SERVER_OWNED_METADATA = (
    "name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName", "generation",
    "managedFields", "resourceVersion",
)  # fmt: skip
MAX_MANAGER_LENGTH = 128


@dataclass(frozen=True)
class Identity:
    manager: str
    operation: str
    api_version: str
    subresource: str = ""

    def describe(self) -> str:
        """How Kubernetes names a manager in conflict messages."""
        text = json.dumps(self.manager)
        if self.subresource:
            text += f" with subresource {json.dumps(self.subresource)}"
        if self.operation == UPDATE:
            text += f" using {self.api_version}"
        return text


@dataclass
class Entry:
    identity: Identity
    fields: FieldSet
    time: str | None = None
    stored: tuple[frozenset[fieldpath.Path], Object] | None = None
    """The fields and FieldsV1 tree this entry had in the stored object: while `fields` is
    still that set, `encode` writes that tree again instead of building it anew (the tree of
    every entry a write leaves alone; the stored trees are `to_fields_v1`'s own output)."""


@dataclass
class Managed:
    entries: dict[Identity, Entry] = field(default_factory=dict)

    def others(self, identity: Identity) -> list[Entry]:
        return [e for i, e in self.entries.items() if i != identity]


# --- the view of an object a write is judged on -------------------------------------------

View = Callable[[Object], Object]


def view_for(subresource: str | None, has_status: bool) -> View:
    """The part of an object a write of `subresource` may own."""
    if subresource == "status":
        return lambda obj: {"status": obj["status"]} if "status" in obj else {}
    if subresource == "scale":
        return _scale_view
    return lambda obj: _main_view(obj, has_status)


def _main_view(obj: Object, has_status: bool) -> Object:
    view = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    if has_status:
        view.pop("status", None)
    metadata = obj.get("metadata")
    if isinstance(metadata, dict):
        kept = {k: v for k, v in metadata.items() if k not in SERVER_OWNED_METADATA}
        if kept:
            view["metadata"] = kept
        else:
            view.pop("metadata", None)
    return view


def _scale_view(obj: Object) -> Object:
    spec = obj.get("spec")
    if isinstance(spec, dict) and "replicas" in spec:
        return {"spec": {"replicas": spec["replicas"]}}
    return {}


# --- managedFields <-> Managed ----------------------------------------------------------------


def decode(entries: Any, stored: bool = False) -> Managed:
    """`metadata.managedFields`; entries that do not parse are dropped (Kubernetes resets what
    it cannot decode). `stored`: they are the live object's, which this module encoded (each
    entry remembers its tree, see `Entry.stored`), not a client's."""
    managed = Managed()
    if not isinstance(entries, list):
        return managed
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("operation") not in (APPLY, UPDATE):
            return Managed()
        if entry.get("fieldsType") != "FieldsV1" or not entry.get("apiVersion"):
            return Managed()
        identity = Identity(
            str(entry.get("manager") or ""),
            entry["operation"],
            str(entry["apiVersion"]),
            str(entry.get("subresource") or ""),
        )
        fields_v1 = entry.get("fieldsV1") or {}
        if not isinstance(fields_v1, dict):
            return Managed()
        fields = fieldpath.from_fields_v1(fields_v1)
        managed.entries[identity] = Entry(
            identity, fields, entry.get("time"), (frozenset(fields), fields_v1) if stored else None
        )
    return managed


def encode(managed: Managed) -> list[Object]:
    """`metadata.managedFields`: Apply entries first, then by time, manager, apiVersion."""
    out = []
    for entry in managed.entries.values():
        if not entry.fields:
            continue
        identity = entry.identity
        encoded: Object = {"manager": identity.manager, "operation": identity.operation}
        encoded["apiVersion"] = identity.api_version
        if entry.time:
            encoded["time"] = entry.time
        encoded["fieldsType"] = "FieldsV1"
        stored = entry.stored
        if stored is not None and entry.fields == stored[0]:
            encoded["fieldsV1"] = stored[1]
        else:
            encoded["fieldsV1"] = fieldpath.to_fields_v1(entry.fields)
        if identity.subresource:
            encoded["subresource"] = identity.subresource
        out.append(encoded)
    out.sort(
        key=lambda e: (
            e["operation"],
            times.parse_timestamp(e.get("time")) or 0.0,
            e["manager"],
            e["apiVersion"],
            e.get("subresource", ""),
        )
    )
    return out


def manager_name(field_manager: str | None, user_agent: str | None) -> str:
    """The request's `fieldManager`, else the User-Agent up to its first `/`, else unknown."""
    name = field_manager or (user_agent or "").split("/")[0]
    return name or "unknown"


def validate_manager(field_manager: str | None, *, apply: bool, force: bool) -> None:
    """PatchOptions/CreateOptions validation, with Kubernetes' messages (422)."""
    causes = []
    if apply and not field_manager:
        causes.append(errors.required("fieldManager"))
    if not apply and force:
        causes.append(errors.forbidden("force", "may not be specified for non-apply patch"))
    if field_manager and len(field_manager) > MAX_MANAGER_LENGTH:
        causes.append(
            errors.Cause(
                "fieldManager",
                f"Too long: may not be more than {MAX_MANAGER_LENGTH} bytes",
                "FieldValueTooLong",
            )
        )
    if field_manager and not field_manager.isprintable():
        causes.append(errors.invalid("fieldManager", field_manager, "invalid character"))
    if causes:
        raise errors.invalid_object("PatchOptions", "", causes, "meta.k8s.io")


# --- Update ----------------------------------------------------------------------------------


def update(
    live: Object | None,
    new: Object,
    schema: Schema,
    identity: Identity,
    view: View,
    sent: Any = None,
    now: str | None = None,
) -> list[Object]:
    """The managedFields of `new` after a write by `identity` (live is None for a create);
    `sent`: the managedFields the request itself carried, if any."""
    if live is None and not sent:
        return _created(new, schema, identity, view, now)
    if identity.subresource:
        managed = decode(((live or {}).get("metadata") or {}).get("managedFields"), stored=True)
    else:
        managed = _live_or_new(live, sent)
    old_view = view(live) if live is not None else {}
    new_view = view(new)
    comparison = typed.compare(old_view, new_view, schema)
    if comparison.empty() and live is not None:
        return encode(managed)
    changed = comparison.changed
    for entry in managed.others(identity):
        entry.fields -= changed
        entry.fields -= comparison.removed
    mine = managed.entries.get(identity)
    fields = (mine.fields if mine else set()) - comparison.removed
    fields |= _without_struct_selves(changed, schema)
    managed.entries[identity] = Entry(identity, fields, now or times.now_rfc3339())
    _drop_empty(managed)
    _cap_update_managers(managed)
    return encode(managed)


def _created(
    new: Object, schema: Schema, identity: Identity, view: View, now: str | None
) -> list[Object]:
    """A create's managedFields: the creator owns every field (the fast path of `update`)."""
    fields_v1 = typed.created_fields(view(new), schema)
    if not fields_v1:
        return []
    entry: Object = {
        "manager": identity.manager,
        "operation": identity.operation,
        "apiVersion": identity.api_version,
        "time": now or times.now_rfc3339(),
        "fieldsType": "FieldsV1",
        "fieldsV1": fields_v1,
    }
    if identity.subresource:
        entry["subresource"] = identity.subresource
    return [entry]


def _live_or_new(live: Object | None, sent: Any) -> Managed:
    """A main-resource write may set managedFields itself: `[]` resets them, a valid list
    replaces them; otherwise the live object's stay (Kubernetes' decodeLiveOrNew)."""
    if sent == [] or sent == [{}]:
        return Managed()
    if sent:
        managed = decode(sent)
        if managed.entries:
            return managed
    return decode(((live or {}).get("metadata") or {}).get("managedFields"), stored=True)


def _without_struct_selves(paths: FieldSet, schema: Schema) -> FieldSet:
    """Drop the "." of declared fields that have members below them and that a Go zero value
    holds (structs, required fields): Kubernetes compares a create with such a zero value, so
    it never lists them; they are owned with what they hold anyway."""
    parents = {p[:-1] for p in paths if len(p) > 1}
    out = set()
    for path in paths:
        if path in parents and path[-1].startswith("f:") and _in_zero_value(schema, path):
            continue
        out.add(path)
    return out


def _in_zero_value(schema: Schema, path: tuple[str, ...]) -> bool:
    parent = schema
    for element in path[:-1]:
        if element.startswith("f:"):
            if not parent.is_named_field(element[2:]):
                return False
            parent = parent.field_type(element[2:])
        elif parent.element is None:
            return False
        else:
            parent = parent.element
    name = path[-1][2:]
    if not parent.is_named_field(name):
        return False
    own = parent.field_type(name)
    return name in parent.required or (own.kind is Kind.STRUCT and not own.atomic)


def _drop_empty(managed: Managed) -> None:
    for identity in [i for i, e in managed.entries.items() if not e.fields]:
        del managed.entries[identity]


def _cap_update_managers(managed: Managed) -> None:
    updaters = [e for e in managed.entries.values() if e.identity.operation == UPDATE]
    if len(updaters) <= MAX_UPDATE_MANAGERS:
        return
    updaters.sort(key=lambda e: (e.time or "", e.identity.manager))
    excess = updaters[: len(updaters) - MAX_UPDATE_MANAGERS + 1]
    bucket = Identity("ancient-changes", UPDATE, excess[0].identity.api_version)
    fields: FieldSet = set()
    for entry in excess:
        fields |= entry.fields
        del managed.entries[entry.identity]
    previous = managed.entries.get(bucket)
    managed.entries[bucket] = Entry(
        bucket, fields | (previous.fields if previous else set()), excess[-1].time
    )


# --- Apply -----------------------------------------------------------------------------------


@dataclass
class Applied:
    obj: Object
    """The object to store (the live one, with new managedFields, for a no-op apply)."""
    changed: bool


def apply(
    live: Object | None,
    config: Object,
    schema: Schema,
    identity: Identity,
    view: View,
    force: bool,
    now: str | None = None,
) -> Applied:
    """Server-side apply of `config` by `identity` over `live` (None: the object is new)."""
    _check_config(config, identity.api_version)
    live_obj: Object = live if live is not None else {}
    managed = decode((live_obj.get("metadata") or {}).get("managedFields"))
    merged = typed.merge(live_obj, config, schema)
    last = managed.entries.get(identity)
    applied = view(config)
    new_set = typed.field_set(applied, schema)
    managed.entries[identity] = Entry(identity, new_set, last.time if last else None)
    if last is not None and last.fields:
        merged = _prune(merged, managed, identity, last.fields, schema)
    comparison = typed.compare(view(live_obj), view(merged), schema)
    conflicts = _conflicts(managed, identity, comparison.changed)
    if conflicts and not force:
        if identity.manager == KUBECTL_APPLY_MANAGER:
            allowed = _allowed_from_last_applied(live_obj, schema, view)
            conflicts = {e: paths - allowed for e, paths in conflicts.items()}
            conflicts = {e: paths for e, paths in conflicts.items() if paths}
        if conflicts:
            raise conflict_error(conflicts)
    for entry in managed.others(identity):
        entry.fields -= comparison.changed
        entry.fields -= comparison.removed
    _drop_empty(managed)
    changed = not comparison.empty() or live is None
    if changed and identity in managed.entries:
        managed.entries[identity].time = now or times.now_rfc3339()
    if identity.manager == KUBECTL_APPLY_MANAGER and _last_applied(live_obj):
        merged = _with_last_applied(merged, config)
    merged = dict(merged)
    merged["metadata"] = dict(merged.get("metadata") or {})
    merged["metadata"]["managedFields"] = encode(managed)
    return Applied(merged, changed)


def _check_config(config: Any, api_version: str) -> None:
    if not isinstance(config, dict):
        raise errors.BadRequest("error decoding YAML: the applied configuration is not an object")
    sent = config.get("apiVersion")
    if sent != api_version:
        raise errors.BadRequest(
            "Incorrect version specified in apply patch. Specified patch version: "
            f"{sent or ''}, expected: {api_version}"
        )
    metadata = config.get("metadata")
    if isinstance(metadata, dict) and metadata.get("managedFields") is not None:
        raise errors.BadRequest("metadata.managedFields must be nil")


def _prune(
    merged: Object, managed: Managed, identity: Identity, last: FieldSet, schema: Schema
) -> Object:
    """Remove what the applier owned last time, applies no more and nobody else owns."""
    last_all = typed.with_named_fields(last, schema)
    pruned = typed.remove(merged, last_all, schema)
    owned: FieldSet = set()
    for entry in managed.entries.values():
        owned |= entry.fields
    owned = typed.with_named_fields(owned, schema)
    merged_set = typed.with_named_fields(typed.field_set(merged, schema), schema)
    pruned_set = typed.with_named_fields(typed.field_set(pruned, schema), schema)
    pruned = typed.remove(merged, merged_set - (pruned_set | owned), schema)
    pruned_set = typed.with_named_fields(typed.field_set(pruned, schema), schema)
    dangling = (merged_set - pruned_set) & last_all
    result = typed.remove(merged, dangling, schema)
    assert isinstance(result, dict)
    return result


def _conflicts(managed: Managed, identity: Identity, changed: FieldSet) -> dict[Identity, FieldSet]:
    found = {}
    for entry in managed.others(identity):
        overlap = entry.fields & changed
        if overlap:
            found[entry.identity] = overlap
    return found


def conflict_error(conflicts: dict[Identity, FieldSet]) -> errors.Conflict:
    """Kubernetes' apply conflict: 409, a cause per field, the message naming managers."""
    pairs = [
        (identity, path)
        for identity in sorted(conflicts, key=lambda i: (i.manager, i.operation, i.subresource))
        for path in sorted(conflicts[identity], key=fieldpath.to_string)
    ]
    causes = [
        errors.Cause(
            fieldpath.to_string(path), f"conflict with {i.describe()}", "FieldManagerConflict"
        )
        for i, path in pairs
    ]
    if len(pairs) == 1:
        identity, path = pairs[0]
        message = (
            f"Apply failed with 1 conflict: conflict with {identity.describe()}: "
            f"{fieldpath.to_string(path)}"
        )
    else:
        lines = []
        for identity in sorted(conflicts, key=lambda i: i.describe()):
            lines.append(f"conflicts with {identity.describe()}:")
            lines.extend(
                f"- {fieldpath.to_string(p)}"
                for p in sorted(conflicts[identity], key=fieldpath.to_string)
            )
        message = f"Apply failed with {len(pairs)} conflicts: " + "\n".join(lines)
    return errors.Conflict(message, causes=causes)


def _last_applied(obj: Object) -> str | None:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(LAST_APPLIED)
    return value if isinstance(value, str) and value else None


def _allowed_from_last_applied(live: Object, schema: Schema, view: View) -> FieldSet:
    """Fields a client-side apply set and that still hold those values: kubectl's server-side
    apply may take them over without force."""
    text = _last_applied(live)
    if text is None:
        return set()
    try:
        last = json.loads(text)
    except ValueError:
        return set()
    if not isinstance(last, dict) or last.get("apiVersion") != live.get("apiVersion"):
        return set()
    last_view, live_view = view(last), view(live)
    comparison = typed.compare(last_view, live_view, schema)
    return typed.field_set(last_view, schema) - comparison.changed - comparison.removed


def _with_last_applied(merged: Object, config: Object) -> Object:
    """kubectl's annotation follows what its server-side apply sent (without itself)."""
    sent = json.loads(orjson.dumps(config))
    annotations = (sent.get("metadata") or {}).get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(LAST_APPLIED, None)
        if not annotations:
            sent["metadata"].pop("annotations")
    result = dict(merged)
    metadata = dict(result.get("metadata") or {})
    metadata["annotations"] = {
        **(metadata.get("annotations") or {}),
        LAST_APPLIED: orjson.dumps(sent, option=orjson.OPT_SORT_KEYS).decode() + "\n",
    }
    result["metadata"] = metadata
    return result
