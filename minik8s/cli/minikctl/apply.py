"""`minikctl apply -f`: create-or-update with the `kubectl.kubernetes.io/last-applied-configuration`
annotation, as kubectl's client-side apply does.

The update is a JSON merge patch computed three ways (pure, `apply_patch`): fields removed since
the last apply are deleted, and fields of the manifest that the live object does not already
hold are set. "Holds" is containment, so fields the server defaulted inside lists (e.g. a
container's `imagePullPolicy`) do not make an unchanged manifest look changed.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from minik8s.api import errors as api_errors
from minik8s.cli.minikctl import errors, manifests, output, session, targets
from minik8s.client.api import ApiClient

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def contains(live: Any, wanted: Any) -> bool:
    """Whether `live` already holds everything `wanted` says (dicts may hold more keys)."""
    if isinstance(wanted, dict):
        return isinstance(live, dict) and all(
            live.get(k) is None if v is None else k in live and contains(live[k], v)
            for k, v in wanted.items()
        )
    if isinstance(wanted, list):
        return (
            isinstance(live, list)
            and len(live) == len(wanted)
            and all(contains(a, b) for a, b in zip(live, wanted, strict=True))
        )
    return bool(live == wanted and type(live) is type(wanted))


def apply_patch(last: dict | None, new: dict, live: dict) -> dict:
    """The merge patch taking `live` to `new`, deleting what `last` had and `new` dropped."""
    patch: dict[str, Any] = {}
    for key in last or {}:
        if key not in new and key in live:
            patch[key] = None
    for key, value in new.items():
        current = live.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            previous = (last or {}).get(key)
            sub = apply_patch(previous if isinstance(previous, dict) else None, value, current)
            if sub:
                patch[key] = sub
        elif value is None and current is None:
            continue
        elif key not in live or not contains(current, value):
            patch[key] = value
    return patch


def with_last_applied(obj: dict) -> tuple[dict, str]:
    """The manifest carrying its own last-applied annotation, and that annotation's text."""
    meta = dict(obj.get("metadata") or {})
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED}
    bare_meta = (
        {**meta, "annotations": annotations}
        if annotations
        else {k: v for k, v in meta.items() if k != "annotations"}
    )
    bare = {**obj, "metadata": bare_meta}
    text = json.dumps(bare, separators=(",", ":"), sort_keys=True) + "\n"
    full = {**bare, "metadata": {**bare_meta, "annotations": {**annotations, LAST_APPLIED: text}}}
    return full, text


def namespace_of(manifest: manifests.Manifest, flag: str | None, default: str) -> str:
    declared = (manifest.obj.get("metadata") or {}).get("namespace")
    if declared and flag and declared != flag:
        raise errors.CliError(
            f'the namespace from the provided object "{declared}" does not match the namespace '
            f"\"{flag}\". You must pass '--namespace={declared}' to perform this operation."
        )
    return str(declared or flag or default)


async def apply_one(client: ApiClient, manifest: manifests.Manifest, namespace: str) -> str:
    """Create or patch one object; the word kubectl prints (created/configured/unchanged)."""
    rt = targets.resource_for(manifest.obj)
    name = manifest.name
    if not name:
        raise errors.CliError(f"error validating {manifest.source!r}: metadata.name not set")
    full, _ = with_last_applied(manifest.obj)
    ns = namespace if rt.namespaced else None
    if rt.namespaced:
        full["metadata"]["namespace"] = namespace
    try:
        live = await client.get(rt, name, ns)
    except api_errors.NotFound:
        await client.create(rt, full, ns)
        return "created"
    last_text = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    try:
        last = json.loads(last_text) if last_text else None
    except json.JSONDecodeError:
        last = None
    patch = apply_patch(last, full, live)
    patch.pop("status", None)
    if not patch:
        return "unchanged"
    await client.patch(rt, name, patch, namespace=ns, patch_type="merge")
    return "configured"


CONFLICT_HELP = """Please review the fields above--they currently have other managers. Here
are the ways you can resolve this warning:
* If you intend to manage all of these fields, please re-run the apply
  command with the `--force-conflicts` flag.
* If you do not intend to manage all of the fields, please edit your
  manifest to remove references to the fields that should keep their
  current managers.
* You may co-own fields by updating your manifest to match the existing
  value; in this case, you'll become the manager if the other manager(s)
  stop managing the field (remove it from their configuration).
See https://kubernetes.io/docs/reference/using-api/server-side-apply/#conflicts"""
"""What kubectl prints after an apply conflict."""


async def apply_server_side(
    client: ApiClient, manifest: manifests.Manifest, namespace: str, manager: str, force: bool
) -> str:
    """Server-side apply of one object (kubectl `apply --server-side`): the word it prints."""
    rt = targets.resource_for(manifest.obj)
    name = manifest.name
    if not name:
        raise errors.CliError(f"error validating {manifest.source!r}: metadata.name not set")
    obj = dict(manifest.obj)
    ns = namespace if rt.namespaced else None
    if rt.namespaced:
        obj["metadata"] = {**(obj.get("metadata") or {}), "namespace": namespace}
    path = rt.object_path(ns, name)
    params = {"fieldManager": manager, **({"force": "true"} if force else {})}
    try:
        await client.request(
            "PATCH", path, json=obj, params=params, content_type="application/apply-patch+yaml"
        )
    except api_errors.Conflict as e:
        if e.causes and all(c.reason == "FieldManagerConflict" for c in e.causes):
            raise errors.CliError(f"{e.message}\n{CONFLICT_HELP}") from e
        raise
    return "serverside-applied"


def register(app: typer.Typer) -> None:
    @app.command("apply", help="Create or update objects from files, a directory, or - (stdin).")
    def apply(
        ctx: typer.Context,
        filenames: Annotated[
            list[str], typer.Option("--filename", "-f", help="File, directory or - (stdin)")
        ],
        recursive: Annotated[
            bool, typer.Option("--recursive", "-R", help="Read directories recursively")
        ] = False,
        output_format: Annotated[
            str | None, typer.Option("--output", "-o", help="Only `name` is supported")
        ] = None,
        server_side: Annotated[
            bool, typer.Option("--server-side", help="Apply on the server (field managers)")
        ] = False,
        force_conflicts: Annotated[
            bool,
            typer.Option("--force-conflicts", help="Take over fields other managers own"),
        ] = False,
        field_manager: Annotated[
            str, typer.Option("--field-manager", help="Name of the manager of the fields")
        ] = "kubectl",
    ) -> None:
        s = session.of(ctx)
        with errors.handled():
            if force_conflicts and not server_side:
                raise errors.CliError("--force-conflicts only works with --server-side")
            loaded = manifests.load(filenames, verb="apply", recursive=recursive)
            for manifest in loaded:
                targets.resource_for(manifest.obj)

        async def go(client: ApiClient) -> None:
            async def one(manifest: manifests.Manifest) -> None:
                ns = namespace_of(manifest, s.namespace_flag, s.config.namespace)
                if server_side:
                    word = await apply_server_side(
                        client, manifest, ns, field_manager, force_conflicts
                    )
                else:
                    word = await apply_one(client, manifest, ns)
                ref = targets.ref(targets.resource_for(manifest.obj), manifest.name)
                output.echo(ref if output_format == "name" else f"{ref} {word}")

            await errors.report_each(loaded, one)

        s.run(go)
