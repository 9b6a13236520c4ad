"""The one place that turns failures into kubectl-style lines on stderr and exit code 1."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import TypeVar

import typer

from minik8s.api import errors, times
from minik8s.client import exceptions
from minik8s.client.kubeconfig import ConfigError

T = TypeVar("T")


class CliError(Exception):
    """A failure found by minikctl itself; printed as `error: <message>`."""


class Failed(Exception):
    """Some items of a multi-item command failed; each was already reported."""


def message(e: BaseException) -> str:
    """The one line kubectl would print for `e`."""
    if isinstance(e, exceptions.ServerUnreachable | exceptions.RequestTimedOut):
        return f"error: {e} (is the cluster up? try `minik8s status`)"
    if isinstance(e, errors.Invalid):
        return f"The {e.message}" if e.message[:1].isupper() else f"error: {e.message}"
    if isinstance(e, errors.ApiError):
        return f"Error from server ({e.reason}): {e.message}"
    if isinstance(e, ConfigError | CliError):
        return f"error: {e}"
    if isinstance(e, OSError):
        return f"error: {e.strerror or e}: {e.filename}" if e.filename else f"error: {e}"
    return f"error: {type(e).__name__}: {e}"


def report(e: BaseException) -> None:
    """Print the line for `e` on stderr (for commands that go on with other items)."""
    print(message(e), file=sys.stderr, flush=True)


async def report_each(items: Iterable[T], one: Callable[[T], Awaitable[None]]) -> None:
    """`one(item)` for each item, as kubectl goes through a command's objects: an API or CLI
    error is reported and the rest go on, then `Failed`; an unavailable or timed-out
    apiserver stops it at once."""
    failed = False
    for item in items:
        try:
            await one(item)
        except (errors.ApiError, CliError) as e:
            if isinstance(e, errors.ServiceUnavailable | errors.Timeout):
                raise
            report(e)
            failed = True
    if failed:
        raise Failed()


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """Map every expected failure to one line on stderr and exit 1 (130 on Ctrl-C)."""
    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except Failed:
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    except (errors.ApiError, ConfigError, CliError, OSError) as e:
        report(e)
        raise typer.Exit(1) from None


def duration(text: str | float) -> float:
    """A Go duration option (`30s`, `2m`, `1m30s`, `500ms`, bare seconds) as kubectl takes it;
    anything else is a usage error (exit 2)."""
    try:
        return times.parse_duration(text)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from e
