"""The informer's local cache: objects by `namespace/name` key, with secondary indexes.

Pure data structures, no I/O; safe to use from any coroutine of one event loop (never from
threads). Objects are shared with handlers and callers: treat them as read-only and
`copy.deepcopy` one before changing it.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

IndexFunc = Callable[[dict], list[str]]
"""Maps an object to the index values it is filed under."""

NAMESPACE_INDEX = "namespace"


def object_key(obj: Mapping[str, Any]) -> str:
    """`namespace/name`, or `name` for a cluster-scoped object (client-go's MetaNamespaceKey)."""
    meta = obj.get("metadata") or {}
    name = meta.get("name") or ""
    namespace = meta.get("namespace")
    return f"{namespace}/{name}" if namespace else name


def split_key(key: str) -> tuple[str | None, str]:
    """`"ns/name"` → `("ns", "name")`; `"name"` → `(None, "name")`."""
    namespace, sep, name = key.partition("/")
    return (namespace, name) if sep else (None, namespace)


def resource_version(obj: Mapping[str, Any]) -> str | None:
    rv = (obj.get("metadata") or {}).get("resourceVersion")
    return str(rv) if rv else None


def index_by_namespace(obj: dict) -> list[str]:
    namespace = (obj.get("metadata") or {}).get("namespace")
    return [namespace] if namespace else []


class Indexer:
    """Objects by key, plus `index name → value → keys` for each index function."""

    def __init__(self, indexers: Mapping[str, IndexFunc] | None = None) -> None:
        self._items: dict[str, dict] = {}
        self._index_funcs: dict[str, IndexFunc] = dict(indexers or {})
        self._indices: dict[str, dict[str, set[str]]] = {n: {} for n in self._index_funcs}

    # --- reads ---------------------------------------------------------------------------

    def get(self, key_or_obj: str | Mapping[str, Any]) -> dict | None:
        """The cached object with this key (or with the key of this object)."""
        key = key_or_obj if isinstance(key_or_obj, str) else object_key(key_or_obj)
        return self._items.get(key)

    def get_by_key(self, key: str) -> dict | None:
        return self._items.get(key)

    def list(self) -> builtins.list[dict]:
        return list(self._items.values())

    def keys(self) -> builtins.list[str]:
        return list(self._items)

    def items(self) -> dict[str, dict]:
        """A snapshot `{key: object}`."""
        return dict(self._items)

    def by_index(self, index_name: str, value: str) -> builtins.list[dict]:
        return [self._items[k] for k in self.index_keys(index_name, value)]

    def index_keys(self, index_name: str, value: str) -> builtins.list[str]:
        if index_name not in self._indices:
            raise KeyError(f"no index named {index_name!r}")
        return sorted(self._indices[index_name].get(value, ()))

    def index_names(self) -> builtins.list[str]:
        return list(self._index_funcs)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    # --- writes (the informer's) ---------------------------------------------------------

    def add_indexers(self, indexers: Mapping[str, IndexFunc]) -> None:
        for name, func in indexers.items():
            if name in self._index_funcs:
                raise ValueError(f"index {name!r} already exists")
            self._index_funcs[name] = func
            self._indices[name] = {}
            for key, obj in self._items.items():
                self._file(name, key, obj)

    def upsert(self, obj: dict) -> dict | None:
        """Store `obj`; return the object it replaced, if any."""
        key = object_key(obj)
        old = self._items.get(key)
        if old is not None:
            self._unfile(key, old)
        self._items[key] = obj
        for name in self._index_funcs:
            self._file(name, key, obj)
        return old

    def delete(self, key: str) -> dict | None:
        """Remove the object with this key; return it, if it was there."""
        old = self._items.pop(key, None)
        if old is not None:
            self._unfile(key, old)
        return old

    def replace(self, objects: Iterable[dict]) -> None:
        self._items = {}
        self._indices = {n: {} for n in self._index_funcs}
        for obj in objects:
            self.upsert(obj)

    def _file(self, index_name: str, key: str, obj: dict) -> None:
        index = self._indices[index_name]
        for value in self._index_funcs[index_name](obj):
            index.setdefault(value, set()).add(key)

    def _unfile(self, key: str, obj: dict) -> None:
        for name, func in self._index_funcs.items():
            index = self._indices[name]
            for value in func(obj):
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]


Store = Indexer
"""A cache with no index is the same thing."""


@dataclass
class RelistDiff:
    """What a fresh list changed relative to the cache, as handler calls to make."""

    added: list[dict] = field(default_factory=list)
    updated: list[tuple[dict, dict]] = field(default_factory=list)
    """(cached object, listed object) pairs whose resourceVersion differs."""
    deleted: list[dict] = field(default_factory=list)
    """Cached objects the list no longer has (the last state we knew)."""

    def __bool__(self) -> bool:
        return bool(self.added or self.updated or self.deleted)


def diff_relist(cached: Mapping[str, dict], listed: Iterable[dict]) -> RelistDiff:
    """Compare the cache with a fresh list, so each change is reported exactly once.

    An object is unchanged when its resourceVersion is the one cached; a key that is in both
    with another resourceVersion was updated, unless its uid changed too: then the old object
    was deleted and a new one created under the same name, and both are reported.
    """
    diff = RelistDiff()
    seen: set[str] = set()
    for obj in listed:
        key = object_key(obj)
        seen.add(key)
        old = cached.get(key)
        if old is None:
            diff.added.append(obj)
        elif _uid(old) != _uid(obj):
            diff.deleted.append(old)
            diff.added.append(obj)
        elif resource_version(old) != resource_version(obj):
            diff.updated.append((old, obj))
    diff.deleted += [obj for key, obj in cached.items() if key not in seen]
    return diff


def _uid(obj: Mapping[str, Any]) -> str | None:
    return (obj.get("metadata") or {}).get("uid")
