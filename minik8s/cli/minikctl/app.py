"""The `minikctl` typer app: global options, then one command (or sub-app) per verb.

Global options may come anywhere before `--`, as with kubectl (`minikctl get po -n kube-system`):
the root group moves them in front of the verb before click parses the line.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from minik8s.cli.minikctl import session

GLOBAL_WITH_VALUE = ("--kubeconfig", "--context", "--namespace", "-n")
GLOBAL_FLAGS = ("-v", "--verbose")


def hoist_globals(args: list[str]) -> list[str]:
    """Move global options (and their values) in front of everything else, up to `--`."""
    hoisted: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        if arg in GLOBAL_WITH_VALUE and i + 1 < len(args):
            hoisted.extend(args[i : i + 2])
            i += 2
            continue
        if arg in GLOBAL_FLAGS or any(arg.startswith(f"{o}=") for o in GLOBAL_WITH_VALUE):
            hoisted.append(arg)
        elif arg.startswith("-n") and len(arg) > 2 and not arg.startswith("--"):
            hoisted.extend(["-n", arg[2:]])
        else:
            rest.append(arg)
        i += 1
    return hoisted + rest


class RootGroup(TyperGroup):
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # a click Context
        return super().parse_args(ctx, hoist_globals(list(args)))


app = typer.Typer(
    name="minikctl",
    cls=RootGroup,
    help="minikctl controls a minik8s cluster, the way kubectl controls Kubernetes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def global_options(
    ctx: typer.Context,
    kubeconfig: Annotated[
        str | None,
        typer.Option(
            "--kubeconfig",
            help="Path to the kubeconfig file (default: $KUBECONFIG, ~/.minik8s/kubeconfig, "
            "~/.kube/config)",
            show_default=False,
        ),
    ] = None,
    context: Annotated[
        str | None, typer.Option("--context", help="The kubeconfig context to use")
    ] = None,
    namespace: Annotated[
        str | None,
        typer.Option("--namespace", "-n", help="The namespace of this request"),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log client retries")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.ERROR, format="%(levelname)s %(message)s"
    )
    ctx.obj = session.Session(kubeconfig=kubeconfig, context=context, namespace_flag=namespace)


def _register() -> None:
    from minik8s.cli.minikctl import (  # the verbs use app-level helpers: import them last
        apply,
        create,
        delete,
        describe,
        explain,
        expose,
        get,
        info,
        label,
        logs,
        nodes,
        portforward,
        rollout,
        run,
        scale,
        top,
        trace,
    )

    for module in (get, describe, run, trace, create, apply, delete, logs, scale, rollout,
                   expose, label, nodes, info, top, explain, portforward):  # fmt: skip
        module.register(app)


_register()


def main() -> None:
    """`minikctl`."""
    app(prog_name="minikctl")


if __name__ == "__main__":
    main()
