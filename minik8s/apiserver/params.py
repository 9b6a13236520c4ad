"""Query parameters of REST requests, parsed once and strictly (400 for what does not parse).

Numbers are ASCII digits with an optional sign, as Go's strconv reads them (`str.isdigit()`
would accept "²", which `int()` then refuses), within int64. Options with a fixed set of
values are checked against it, with Kubernetes' wording.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from minik8s.api import errors

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_INTEGER = re.compile(r"[+-]?[0-9]+")

STRICT, WARN, IGNORE = "Strict", "Warn", "Ignore"
FIELD_VALIDATION_VALUES = ("", IGNORE, STRICT, WARN)
DEFAULT_FIELD_VALIDATION = WARN
"""The server's default since Kubernetes 1.27 (kubectl sends Strict itself)."""


def parse_int(text: str, name: str) -> int:
    """An int64 written in decimal ASCII digits; 400 BadRequest otherwise."""
    if not _INTEGER.fullmatch(text):
        raise errors.BadRequest(f'invalid {name} "{text}": must be an integer')
    value = int(text)
    if not INT64_MIN <= value <= INT64_MAX:
        raise errors.BadRequest(f'invalid {name} "{text}": value out of range')
    return value


def integer(query: Mapping[str, str], name: str, minimum: int | None = None) -> int | None:
    """The integer query parameter `name`, or None when it is absent or empty."""
    text = query.get(name)
    if text is None or text == "":
        return None
    value = parse_int(text, name)
    if minimum is not None and value < minimum:
        raise errors.BadRequest(f'invalid {name} "{text}": must be at least {minimum}')
    return value


def boolean(query: Mapping[str, str], name: str) -> bool:
    """Go's strconv.ParseBool on the parameter; absent or empty is false."""
    text = query.get(name)
    if text is None or text == "":
        return False
    if text in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if text in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise errors.BadRequest(f'invalid {name} "{text}": must be a boolean')


def field_validation(query: Mapping[str, str], options_kind: str) -> str:
    """`fieldValidation` (Strict, Warn or Ignore; empty means the default, Warn)."""
    value = query.get("fieldValidation") or ""
    if value not in FIELD_VALIDATION_VALUES:
        raise errors.invalid_object(
            options_kind,
            "",
            [errors.not_supported("fieldValidation", value, list(FIELD_VALIDATION_VALUES))],
            "meta.k8s.io",
        )
    return value or DEFAULT_FIELD_VALIDATION


def dry_run(values: list[str], options_kind: str) -> bool:
    """`dryRun`: only "All" is defined (each value of a repeated parameter must be it)."""
    for value in values:
        if value != "All":
            raise errors.invalid_object(
                options_kind,
                "",
                [errors.not_supported("dryRun", value, ["All"])],
                "meta.k8s.io",
            )
    return bool(values)
