"""Decoding JSON and YAML request data into JSON values, in bounded time and memory.

Every body the apiserver reads (objects, patches, DeleteOptions, server-side apply) comes
through here, so the limits hold everywhere:

- nesting: at most `MAX_DEPTH` levels. Kubernetes' decoder allows 10 000; no built-in kind
  nests deeper than ~20, and deeper data cannot be stored (orjson encodes at most 254 levels)
  nor walked by Python's recursive patch code.
- YAML aliases ("billion laughs"): a document whose aliases expand it out of proportion is
  refused with go-yaml's rule and message ("excessive aliasing"), judged on the composed node
  graph before anything is built; a recursive alias is refused too.
- YAML values JSON cannot hold (`!!binary`, `!!set`, NaN, keys that are maps) are refused;
  timestamps stay strings and scalar keys become JSON's strings, as Kubernetes reads YAML.

Failures raise `DecodeError` with a one-line message; callers word the 400 Status.
"""

from __future__ import annotations

import math
from typing import Any

import orjson
import yaml

MAX_DEPTH = 100
"""Nesting levels of maps and lists a request body may have."""


class DecodeError(ValueError):
    """The data does not decode to JSON values within the limits; the message says why."""


def decode_json(body: bytes | str) -> Any:
    """A JSON document (orjson), at most `MAX_DEPTH` levels deep."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise DecodeError(_one_line(e)) from e
    check_depth(value)
    return value


def check_depth(value: Any, limit: int = MAX_DEPTH) -> None:
    """Raise DecodeError when `value` nests maps and lists more than `limit` levels.

    Depth first, with an explicit stack (no recursion, one entry per container)."""
    if not isinstance(value, dict | list):
        return
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        below = depth + 1
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, _CONTAINERS):
                if below >= limit:
                    raise DecodeError(f"the data is nested more than {limit} levels deep")
                stack.append((child, below))


_CONTAINERS = (dict, list)  # a tuple: isinstance checks it faster than `dict | list`


class _Loader(yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader):  # type: ignore[misc]
    """YAML as Kubernetes reads it: timestamps stay strings, as they are in JSON."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def decode_yaml(body: bytes | str) -> Any:
    """One YAML document as JSON values (None for an empty document)."""
    loader = _Loader(body)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        check_node_graph(node)
        return _json_value(loader.construct_document(node))
    except yaml.YAMLError as e:
        raise DecodeError(_one_line(e)) from e
    except (UnicodeDecodeError, RecursionError, TypeError) as e:  # e.g. an unhashable key
        raise DecodeError(f"invalid YAML: {_one_line(e)}") from e
    finally:
        loader.dispose()


def allowed_alias_ratio(decoded: int) -> float:
    """go-yaml's rule: small documents may be mostly aliases, large ones only 10%."""
    low, high = 400_000, 4_000_000
    if decoded <= low:
        return 0.99
    if decoded >= high:
        return 0.10
    return 0.99 - 0.89 * (decoded - low) / (high - low)


def check_node_graph(root: yaml.Node, max_depth: int = MAX_DEPTH) -> None:
    """Refuse excessive aliasing, recursive aliases and deep nesting, before construction.

    Aliases make the composed graph a DAG (shared nodes); its expanded size is counted with
    each node visited once, so the check is linear in the document.
    """
    sizes: dict[int, int] = {}
    depths: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = _children(node)
        if done:
            on_path.discard(key)
            sizes[key] = 1 + sum(sizes[id(c)] for c in children)
            depth = 1 + max((depths[id(c)] for c in children), default=0)
            if depth > max_depth:
                raise DecodeError(f"the data is nested more than {max_depth} levels deep")
            depths[key] = depth
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise DecodeError("yaml: a recursive alias is not supported")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)
    decoded, distinct = sizes[id(root)], len(sizes)
    aliased = decoded - distinct
    if aliased > 100 and decoded > 1000 and aliased / decoded > allowed_alias_ratio(decoded):
        raise DecodeError("yaml: document contains excessive aliasing")


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _json_value(value: Any) -> Any:
    """YAML's constructed values as JSON's: string keys, lists; no bytes, sets or NaN."""
    if isinstance(value, dict):
        return {_key_text(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        raise DecodeError(f"json: unsupported value: {value}")
    if value is None or isinstance(value, str | int | float):
        return value
    raise DecodeError(f"a YAML value of type {type(value).__name__} has no JSON form")


def _key_text(key: Any) -> str:
    """YAML allows keys JSON does not (`on:` is a boolean); turn them into JSON's strings."""
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    if isinstance(key, str | int | float):
        return str(key)
    raise DecodeError(f"a YAML map key of type {type(key).__name__} has no JSON form")


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())
