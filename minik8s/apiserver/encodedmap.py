"""A map of objects kept as their JSON bytes, decoded on each read.

The watch cache keeps the current objects of most resources decoded: they are read on every
write (admission, the update's base), by the authorizers and by every list. Events are the
exception. They are the most numerous objects in a busy cluster (several per pod, kept for
`--event-ttl`), written once or twice and read only by lists; Kubernetes does not cache them
at all (its default watch cache size for events is 0). Here they stay in the cache, so that
one etcd watch still feeds every watch, but as their bytes: an Event takes ~1 KB as JSON and
~3.5 KB decoded, and is kept in a buffer of its own length (`right_sized`: orjson's own
output of a 1 KB Event holds 4-8 KiB).
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping

import orjson

from minik8s.api.encoding import right_sized
from minik8s.api.meta import Object


class EncodedObjects(MutableMapping[str, Object]):
    """Keys to objects, stored as JSON; each read returns a fresh decoded copy."""

    def __init__(self, objects: dict[str, Object] | None = None) -> None:
        self._raw: dict[str, bytes] = {}
        for key, obj in (objects or {}).items():
            self[key] = obj

    def __getitem__(self, key: str) -> Object:
        value: Object = orjson.loads(self._raw[key])
        return value

    def __setitem__(self, key: str, obj: Object) -> None:
        self._raw[key] = right_sized(orjson.dumps(obj))

    def __delitem__(self, key: str) -> None:
        del self._raw[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def __contains__(self, key: object) -> bool:
        return key in self._raw
