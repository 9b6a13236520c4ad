"""Descriptions of types and fields for the OpenAPI documents (what `kubectl explain` prints).

Where a description comes from, first found wins:

1. the model itself: a field's `Field(description=...)`, the docstring under an attribute,
   the class docstring (so a kind added with docstrings documents itself);
2. `descriptions.yaml` beside this module, keyed by model class name (`Container`) and by
   `Class.jsonField` (`Container.image`), written for minik8s in its own words;
3. `COMMON` below for fields every kind shares (`apiVersion`, `kind`, `metadata`, ...).
"""

from __future__ import annotations

import ast
import functools
import inspect
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

TABLE = Path(__file__).with_name("descriptions.yaml")

QUANTITY = (
    "A fixed-point number with an optional suffix: 500m (milli), 2, 128Mi, 1Gi (binary) or "
    "1k, 1M (decimal). Written as a string; a bare number is accepted."
)
INT_OR_STRING = "An integer or a string, such as a port number or name, a count or a percentage."
TIME = "A time in RFC 3339 form at one-second resolution, such as 2024-05-01T10:00:00Z."
MICRO_TIME = "A time in RFC 3339 form with microseconds, such as 2024-05-01T10:00:00.000000Z."

COMMON: dict[str, str] = {
    "apiVersion": (
        "APIVersion names the versioned schema of this representation of an object (group/"
        "version, or just the version for the core group). Servers convert recognized schemas "
        "to the latest internal value and may reject unrecognized values."
    ),
    "kind": (
        "Kind is a string value naming the REST resource this object represents, in "
        "CamelCase. Servers may infer it from the endpoint the client submits requests to; it "
        "cannot be updated."
    ),
    "metadata": (
        "Standard object metadata: name, namespace, labels, annotations, owner references "
        "and the fields the server maintains (uid, resourceVersion, creationTimestamp...)."
    ),
    "spec": "The desired state of the object, written by its users.",
    "status": (
        "The most recently observed state of the object, written by the system. Read-only "
        "for users: it changes through the status subresource."
    ),
    "items": "The objects of the list.",
}


class Docs:
    """Looks descriptions up; reads each model module's source once."""

    def __init__(self) -> None:
        self.table = _table()

    def of_type(self, model: type[BaseModel]) -> str:
        own = model.__dict__.get("__doc__")
        if own and not _is_generated(own):
            return _clean(own)
        return str(self.table.get(model.__name__, ""))

    def of_field(self, model: type[BaseModel], attribute: str, json_name: str) -> str:
        for cls in model.__mro__:
            if not isinstance(cls, type) or not issubclass(cls, BaseModel) or cls is BaseModel:
                continue
            doc = _attribute_docs(cls).get(attribute)
            if doc:
                return doc
            entry = self.table.get(f"{cls.__name__}.{json_name}")
            if entry:
                return str(entry)
        return COMMON.get(json_name, "")


@functools.cache
def _table() -> dict[str, Any]:
    loaded = yaml.safe_load(TABLE.read_text()) if TABLE.exists() else None
    return loaded or {}


def _is_generated(doc: str) -> bool:
    """pydantic gives undocumented models no docstring; BaseModel's own is not theirs."""
    return doc.startswith("!!! abstract") or doc.startswith("Usage docs:")


def _clean(doc: str) -> str:
    return " ".join(inspect.cleandoc(doc).split())


def _attribute_docs(cls: type) -> dict[str, str]:
    """Docstrings written under a class's attributes (`x: int = 0` then `\"\"\"...\"\"\"`)."""
    return _module_docs(cls.__module__).get(cls.__qualname__, {})


@functools.cache
def _module_docs(module_name: str) -> dict[str, dict[str, str]]:
    """Class name -> attribute -> docstring, for every class of a module (parsed once)."""
    module = sys.modules.get(module_name)
    try:
        source = inspect.getsource(module) if module is not None else ""
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError):
        return {}
    found: dict[str, dict[str, str]] = {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        docs = found.setdefault(node.name, {})
        for current, following in zip(node.body, node.body[1:], strict=False):
            if (
                isinstance(current, ast.AnnAssign)
                and isinstance(current.target, ast.Name)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                docs[current.target.id] = _clean(following.value.value)
    return found
