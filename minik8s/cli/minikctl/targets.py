"""What a command line names: `pods`, `po x y`, `pod/x`, `deploy,rs`, `all` — as
(resource type, name) pairs, the way kubectl reads its arguments."""

from __future__ import annotations

from dataclasses import dataclass

from minik8s.api import resources
from minik8s.api.resources import ResourceType
from minik8s.cli.minikctl.errors import CliError


@dataclass(frozen=True)
class Target:
    rt: ResourceType
    name: str | None = None


def resource_type(word: str) -> ResourceType:
    """The type a user typed (plural, singular, kind, short name); an error line if unknown."""
    rt = resources.resolve(word)
    if rt is None:
        raise CliError(f'the server doesn\'t have a resource type "{word}"')
    return rt


def resource_types(word: str) -> list[ResourceType]:
    """A comma-separated list of types; `all` is the `all` category (as kubectl)."""
    found: list[ResourceType] = []
    for part in word.split(","):
        if not part:
            continue
        if part.lower() == "all":
            found.extend(rt for rt in resources.RESOURCES if "all" in rt.categories)
        else:
            found.append(resource_type(part))
    if not found:
        raise CliError("you must specify the type of resource to get")
    return list(dict.fromkeys(found))


def parse(args: list[str]) -> list[Target]:
    """`TYPE [NAME...]` or `TYPE/NAME...`; a bare `TYPE[,TYPE]` means every object."""
    if not args:
        raise CliError("you must specify the type of resource")
    if all("/" in a for a in args):
        pairs = [a.split("/", 1) for a in args]
        for kind, name in pairs:
            if not kind or not name:
                raise CliError(
                    "arguments in resource/name form must have a single resource and name"
                )
        return [Target(resource_type(kind), name) for kind, name in pairs]
    if any("/" in a for a in args):
        raise CliError(
            "there is no need to specify a resource type as a separate argument when passing "
            "arguments in resource/name form (e.g. 'minikctl get resource/<resource_name>' "
            "instead of 'minikctl get resource resource/<resource_name>'"
        )
    types = resource_types(args[0])
    names = args[1:]
    if not names:
        return [Target(rt) for rt in types]
    if len(types) > 1:
        raise CliError("you may only specify a single resource type when naming objects")
    return [Target(types[0], name) for name in names]


def one(args: list[str]) -> Target:
    """Exactly one named object: `TYPE NAME` or `TYPE/NAME`."""
    targets = parse(args)
    if len(targets) != 1 or targets[0].name is None:
        raise CliError("exactly one NAME is required, got " + str(len(targets)))
    return targets[0]


def qualified(rt: ResourceType) -> str:
    """`pod`, `deployment.apps`: how kubectl names a type in `TYPE/NAME` output."""
    kind = rt.kind.lower()
    return f"{kind}.{rt.group}" if rt.group else kind


def ref(rt: ResourceType, name: str) -> str:
    """`pod/x`, `deployment.apps/web`."""
    return f"{qualified(rt)}/{name}"


def resource_for(obj: dict) -> ResourceType:
    """The type of a manifest, from its apiVersion and kind."""
    api_version = str(obj.get("apiVersion") or "")
    kind = str(obj.get("kind") or "")
    rt = resources.by_kind(api_version, kind)
    if rt is None:
        name = (obj.get("metadata") or {}).get("name", "")
        raise CliError(
            f'resource mapping not found for name: "{name}": no matches for kind "{kind}" '
            f'in version "{api_version}"'
        )
    return rt
