"""Validation of API objects on create and update, with Kubernetes' field paths and messages.

Each check returns a list of `Cause`s (empty when the object is valid) that the apiserver turns
into a 422 `Invalid` Status. Objects are first checked for shape and types against the pydantic
models; only a well-typed object gets the semantic checks, as Kubernetes decodes before it
validates. Validation works both before and after `defaults.apply_defaults`: an absent field is
never an error when defaulting would fill it.

The entry points live in `objects` and are loaded on first use: components that only need the
syntax checks of `formats` (label selectors, names) would otherwise load pydantic and every
model of the API (~30 MB of each process's RSS) for nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from minik8s.api.validation.objects import (
        validate_binding as validate_binding,
    )
    from minik8s.api.validation.objects import (
        validate_create as validate_create,
    )
    from minik8s.api.validation.objects import (
        validate_ephemeral_containers_update as validate_ephemeral_containers_update,
    )
    from minik8s.api.validation.objects import (
        validate_eviction as validate_eviction,
    )
    from minik8s.api.validation.objects import (
        validate_scale as validate_scale,
    )
    from minik8s.api.validation.objects import (
        validate_status_update as validate_status_update,
    )
    from minik8s.api.validation.objects import (
        validate_update as validate_update,
    )

_ENTRY_POINTS = frozenset(
    {
        "validate_binding",
        "validate_create",
        "validate_ephemeral_containers_update",
        "validate_eviction",
        "validate_scale",
        "validate_status_update",
        "validate_update",
    }
)


def __getattr__(name: str) -> Any:
    """The entry points from `objects`, and submodules (`validation.pod`) on first access."""
    if name in _ENTRY_POINTS:
        value = getattr(importlib.import_module(f"{__name__}.objects"), name)
    elif not name.startswith("_"):
        try:
            value = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value
