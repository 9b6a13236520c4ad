"""Validation of the configMap, secret, downwardAPI and projected volume sources, and of the
relative paths inside a volume (items, subPath), with Kubernetes' rules."""

from __future__ import annotations

from typing import Any

from minik8s.api import errors as api_errors
from minik8s.api.errors import Cause
from minik8s.api.validation.meta import child, index, invalid, items, mapping, required

FILE_MODE_ERROR = "must be a number between 0 and 0777 (octal), both inclusive"
MIN_TOKEN_SECONDS = 10 * 60
MAX_TOKEN_SECONDS = 1 << 32
PROJECTION_KINDS = ("secret", "downwardAPI", "configMap", "serviceAccountToken")


def validate_config_map_volume(source: dict[str, Any], path: str) -> list[Cause]:
    return _object_volume(source, "name", path)


def validate_secret_volume(source: dict[str, Any], path: str) -> list[Cause]:
    return _object_volume(source, "secretName", path)


def _object_volume(source: dict[str, Any], name_field: str, path: str) -> list[Cause]:
    causes: list[Cause] = []
    if not source.get(name_field):
        causes.append(required(child(path, name_field)))
    causes += _mode(source.get("defaultMode"), child(path, "defaultMode"))
    for i, item in enumerate(items(source, "items")):
        causes += _key_to_path(item, index(child(path, "items"), i))
    return causes


def validate_downward_api_volume(source: dict[str, Any], path: str) -> list[Cause]:
    causes = _mode(source.get("defaultMode"), child(path, "defaultMode"))
    for i, item in enumerate(items(source, "items")):
        causes += _downward_api_file(item, index(child(path, "items"), i))
    return causes


def validate_projected_volume(source: dict[str, Any], path: str) -> list[Cause]:
    causes = _mode(source.get("defaultMode"), child(path, "defaultMode"))
    seen: set[str] = set()
    for i, projection in enumerate(items(source, "sources")):
        source_path = index(child(path, "sources"), i)
        kinds = [k for k in PROJECTION_KINDS if projection.get(k) is not None]
        if len(kinds) != 1:
            causes.append(
                api_errors.forbidden(
                    source_path, "may not specify more than 1 volume type per source"
                )
                if kinds
                else required(source_path, "must specify exactly 1 volume type")
            )
            continue
        kind = kinds[0]
        body = mapping(projection, kind)
        kind_path = child(source_path, kind)
        paths: list[tuple[str, str]] = []
        if kind in ("secret", "configMap"):
            if not body.get("name"):
                causes.append(required(child(kind_path, "name")))
            for j, item in enumerate(items(body, "items")):
                item_path = index(child(kind_path, "items"), j)
                causes += _key_to_path(item, item_path)
                paths.append((str(item.get("path") or ""), child(item_path, "path")))
        elif kind == "downwardAPI":
            for j, item in enumerate(items(body, "items")):
                item_path = index(child(kind_path, "items"), j)
                causes += _downward_api_file(item, item_path)
                paths.append((str(item.get("path") or ""), child(item_path, "path")))
        else:
            causes += _token_projection(body, kind_path)
            paths.append((str(body.get("path") or ""), child(kind_path, "path")))
        for file_path, field in paths:
            if file_path and file_path in seen:
                causes.append(invalid(field, file_path, "conflicting duplicate paths"))
            seen.add(file_path)
    return causes


def _token_projection(body: dict[str, Any], path: str) -> list[Cause]:
    causes: list[Cause] = []
    seconds = body.get("expirationSeconds")
    if isinstance(seconds, int) and seconds < MIN_TOKEN_SECONDS:
        causes.append(
            invalid(
                child(path, "expirationSeconds"),
                seconds,
                "may not specify a duration less than 10 minutes",
            )
        )
    elif isinstance(seconds, int) and seconds > MAX_TOKEN_SECONDS:
        causes.append(
            invalid(
                child(path, "expirationSeconds"),
                seconds,
                "may not specify a duration larger than 2^32 seconds",
            )
        )
    if not body.get("path"):
        causes.append(required(child(path, "path")))
    else:
        causes += local_non_reserved_path(str(body["path"]), child(path, "path"))
    return causes


def _key_to_path(item: dict[str, Any], path: str) -> list[Cause]:
    causes: list[Cause] = []
    if not item.get("key"):
        causes.append(required(child(path, "key")))
    if not item.get("path"):
        causes.append(required(child(path, "path")))
    else:
        causes += local_non_reserved_path(str(item["path"]), child(path, "path"))
    return causes + _mode(item.get("mode"), child(path, "mode"))


def _downward_api_file(item: dict[str, Any], path: str) -> list[Cause]:
    causes: list[Cause] = []
    if not item.get("path"):
        causes.append(required(child(path, "path")))
    else:
        causes += local_non_reserved_path(str(item["path"]), child(path, "path"))
    has_field = item.get("fieldRef") is not None
    has_resource = item.get("resourceFieldRef") is not None
    if has_field == has_resource:
        causes.append(
            invalid(path, "", "fieldRef and resourceFieldRef can not be specified simultaneously")
            if has_field
            else required(path, "one of fieldRef and resourceFieldRef is required")
        )
    if has_field and not mapping(item, "fieldRef").get("fieldPath"):
        causes.append(required(child(path, "fieldRef", "fieldPath")))
    return causes + _mode(item.get("mode"), child(path, "mode"))


def local_descending_path(value: str, path: str) -> list[Cause]:
    """Kubernetes' validateLocalDescendingPath (subPath, seccomp's localhostProfile): relative,
    without a `..` element."""
    causes: list[Cause] = []
    if value.startswith("/"):
        causes.append(invalid(path, value, "must be a relative path"))
    if ".." in value.split("/"):
        causes.append(invalid(path, value, "must not contain '..'"))
    return causes


def local_non_reserved_path(value: str, path: str) -> list[Cause]:
    """validateLocalNonReservedPath (the files of a volume): also not starting with `..`, the
    prefix of the atomic writer's own entries (`..data`)."""
    causes = local_descending_path(value, path)
    if value.startswith("..") and not value.startswith("../"):
        causes.append(invalid(path, value, "must not start with '..'"))
    return causes


def _mode(mode: Any, path: str) -> list[Cause]:
    if isinstance(mode, int) and not 0 <= mode <= 0o777:
        return [invalid(path, mode, FILE_MODE_ERROR)]
    return []
