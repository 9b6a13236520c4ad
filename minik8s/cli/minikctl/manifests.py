"""Reading manifests for `apply -f`, `create -f`, `delete -f`: a file, a directory (its
.yaml/.yml/.json files), or `-` for stdin; multi-document YAML; `kind: List` expanded."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from minik8s.cli.minikctl.errors import CliError

EXTENSIONS = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Manifest:
    obj: dict[str, Any]
    source: str
    """Where it came from: a path, or `STDIN`."""

    @property
    def name(self) -> str:
        return str((self.obj.get("metadata") or {}).get("name") or "")


def _files(path_text: str, recursive: bool) -> list[Path]:
    path = Path(path_text).expanduser()
    if path.is_dir():
        pattern = "**/*" if recursive else "*"
        return sorted(p for p in path.glob(pattern) if p.is_file() and p.suffix in EXTENSIONS)
    if not path.exists():
        raise CliError(f'the path "{path_text}" does not exist')
    return [path]


def parse(text: str, source: str) -> list[Manifest]:
    """Every object in a (multi-document) YAML or JSON text."""
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None) or "invalid YAML"
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        raise CliError(f"error parsing {source}: {problem}{where}") from e
    manifests: list[Manifest] = []
    for index, document in enumerate(documents):
        if document is None:
            continue
        if not isinstance(document, dict):
            raise CliError(
                f"error parsing {source}: document {index + 1} is a "
                f"{type(document).__name__}, not an object"
            )
        if document.get("kind") == "List" and isinstance(document.get("items"), list):
            manifests.extend(Manifest(item, source) for item in document["items"])
            continue
        manifests.append(Manifest(document, source))
    for manifest in manifests:
        _check(manifest)
    return manifests


def _check(manifest: Manifest) -> None:
    obj = manifest.obj
    missing = [f"{key} not set" for key in ("apiVersion", "kind") if not obj.get(key)]
    if missing:
        raise CliError(
            f"error validating {manifest.source!r}: error validating data: [{', '.join(missing)}]"
        )
    if not isinstance(obj.get("metadata") or {}, dict):
        raise CliError(f"error validating {manifest.source!r}: metadata must be an object")


def load(paths: list[str], *, verb: str, recursive: bool = False) -> list[Manifest]:
    """Every object of every `-f` argument, in order; an error line for a bad one."""
    if not paths:
        raise CliError("must specify one of -f and -k")
    manifests: list[Manifest] = []
    for path_text in paths:
        if path_text == "-":
            manifests.extend(parse(sys.stdin.read(), "STDIN"))
            continue
        files = _files(path_text, recursive)
        for file in files:
            try:
                text = file.read_text()
            except OSError as e:
                raise CliError(f"cannot read {file}: {e.strerror}") from e
            manifests.extend(parse(text, str(file)))
    if not manifests:
        raise CliError(f"no objects passed to {verb}")
    return manifests
