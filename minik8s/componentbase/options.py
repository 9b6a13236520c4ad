"""The flags every component shares, bound once (Kubernetes' component-base options).

A component builds its parser with `new_parser`, adds the groups it needs
(`add_client_flags`, `add_leader_election_flags`, `add_healthz_flags`, `add_logging_flags`)
and its own flags, then reads the groups back as settings objects. Durations are Go
durations everywhere (`15s`, `1m30s`, `500ms`, or bare seconds); booleans are Go's
(`--leader-elect`, `--leader-elect=false`). A bad value is one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from minik8s.api import times
from minik8s.client.kubeconfig import ClientConfig, load_kubeconfig

if TYPE_CHECKING:
    from minik8s.client.api import ApiClient
    from minik8s.client.leaderelection import LeaderElector


class FlagParser(argparse.ArgumentParser):
    """argparse, but an error is one readable line and exit 2 (no usage dump, no traceback)."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


S = TypeVar("S")
Number = TypeVar("Number", int, float)


def settings_from(cls: type[S], args: argparse.Namespace, **values: Any) -> S:
    """A component's settings dataclass from its parsed flags: each field whose name is a flag's
    destination (`--node-ip` → `node_ip`) takes that flag's value, `client` and `healthz` the
    shared groups' flags; `values` give the rest (leader election, values computed from several
    flags)."""
    names = {f.name for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    taken = {name: getattr(args, name) for name in names if hasattr(args, name)}
    # the shared groups, when the parser has their flags (add_client_flags, add_healthz_flags)
    if "client" in names and hasattr(args, "kubeconfig"):
        taken["client"] = client_options(args)
    if "healthz" in names and hasattr(args, "healthz_port"):
        taken["healthz"] = healthz_options(args)
    return cls(**{**taken, **values})


def new_parser(prog: str, description: str = "") -> FlagParser:
    """A component's flag parser. Like Go's flag package, it takes no abbreviated flags."""
    return FlagParser(prog=prog, description=description or None, allow_abbrev=False)


# --- value types (argparse `type=`) -----------------------------------------------------------

_TRUE = ("1", "t", "true", "yes", "y", "on")
_FALSE = ("0", "f", "false", "no", "n", "off")


def parse_bool(text: str) -> bool:
    """Go's `strconv.ParseBool` plus yes/no/on/off."""
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {text!r}: use true or false")


def duration(text: str) -> float:
    """A Go duration flag value, in seconds."""
    try:
        return times.parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def positive_duration(text: str) -> float:
    value = duration(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f'invalid duration "{text}": must be greater than 0')
    return value


def _number(text: str, convert: Callable[[str], Number], what: str) -> Number:
    try:
        return convert(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"invalid {what} {text!r}: not a number") from e


def ranged(
    convert: Callable[[str], Number],
    low: Number | None = None,
    high: Number | None = None,
    what: str = "value",
    above: bool = False,
) -> Callable[[str], Number]:
    """An argparse type: a number (`int`, `float`) from `low` (or above it, with `above`) to
    `high`, either bound optional, rejected in one readable line otherwise."""
    if low is None:
        bounds = f"must be at most {high:g}"
    elif high is None:
        bounds = f"must be greater than {low:g}" if above else f"must be {low:g} or more"
    else:
        bounds = f"must be {low:g}-{high:g}"

    def parse(text: str) -> Number:
        value = _number(text, convert, what)
        too_low = low is not None and (not value > low if above else value < low)
        if too_low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"invalid {what} {text!r}: {bounds}")
        return value

    return parse


port = ranged(int, high=65535, what="port")
"""A port flag: 0 picks a free port, a negative value serves none (as the components do)."""
non_negative_int = ranged(int, 0)
"""An integer flag of 0 or more (sizes and counts where 0 means "no limit")."""
positive_int = ranged(int, 0, above=True)
positive_float = ranged(float, 0.0, above=True)


def controller_list(
    text: str, known: tuple[str, ...], on_by_default: tuple[str, ...] | None = None
) -> tuple[str, ...]:
    """The controller managers' `--controllers`: `*` (every controller on by default), `name`,
    `-name` (all but), comma-separated; the chosen ones in `known`'s order."""
    default = known if on_by_default is None else on_by_default
    chosen: list[str] = []
    disabled: set[str] = set()
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name = item.removeprefix("-")
        if item != "*" and name not in known:
            raise argparse.ArgumentTypeError(
                f"unknown controller {name!r} (known: {', '.join(known)})"
            )
        if item == "*":
            chosen.extend(default)
        elif item.startswith("-"):
            disabled.add(name)
        else:
            chosen.append(name)
    if not chosen and disabled:
        chosen = list(default)
    return tuple(c for c in known if c in chosen and c not in disabled)


def bool_flag(parser: argparse.ArgumentParser, name: str, default: bool, help: str = "") -> None:
    """`--name` (true), `--name=false`, `--name false`: Go's boolean flag forms."""
    parser.add_argument(
        name, type=parse_bool, nargs="?", const=True, default=default, metavar="BOOL",
        help=(help + " " if help else "") + f"(default {str(default).lower()})",
    )  # fmt: skip


# --- client --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientOptions:
    kubeconfig: str | None = None
    """Kubeconfig file of the apiserver (None: $KUBECONFIG, then ~/.kube/config)."""
    master: str | None = None
    """The apiserver's address, overriding the kubeconfig's server."""


def add_client_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", default=None, help="kubeconfig file of the apiserver")
    parser.add_argument(
        "--master", default=None, help="the apiserver's address (overrides the kubeconfig)"
    )


def client_options(args: argparse.Namespace) -> ClientOptions:
    return ClientOptions(kubeconfig=args.kubeconfig, master=args.master)


def load_client_config(options: ClientOptions) -> ClientConfig:
    """The kubeconfig's connection settings, with `--master` overriding its server."""
    config = load_kubeconfig(options.kubeconfig)
    if options.master:
        config = dataclasses.replace(config, server=options.master.rstrip("/"))
    return config


# --- leader election -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LeaderElectionOptions:
    leader_elect: bool = True
    """Campaign for the Lease and work only while holding it."""
    resource_name: str = ""
    """Name of the leader-election Lease."""
    resource_namespace: str = "kube-system"
    """Namespace of the leader-election Lease."""
    lease_duration: float = 15.0
    """Seconds a standby waits after the leader's last renewal before taking over."""
    renew_deadline: float = 10.0
    """Seconds the leader keeps trying to renew before it steps down."""
    retry_period: float = 2.0
    """Seconds between two attempts to acquire or renew the Lease."""


def leader_election_client(client: ApiClient) -> ApiClient:
    """A client of its own for the Lease (close it after use), as kube-controller-manager and
    kube-scheduler make one: the Lease renewals never wait behind the component's own
    requests for a pooled connection (those may be queued by the apiserver's priority levels
    for seconds while the renew deadline runs)."""
    from minik8s.client.api import ApiClient

    settings = dataclasses.replace(
        client.settings, user_agent=f"{client.settings.user_agent}/leader-election"
    )
    return ApiClient(client.config, settings)


def new_leader_elector(
    options: LeaderElectionOptions, client: ApiClient, identity: str | None = None
) -> LeaderElector:
    """An elector for the component's Lease (`identity`: hostname_uuid by default)."""
    from minik8s.client.leaderelection import LeaderElector, default_identity

    return LeaderElector(
        client, options.resource_namespace, options.resource_name,
        identity or default_identity(), options.lease_duration, options.renew_deadline,
        options.retry_period,
    )  # fmt: skip


def add_leader_election_flags(
    parser: argparse.ArgumentParser, resource_name: str, leader_elect: bool = True
) -> None:
    """kube-scheduler's and kube-controller-manager's `--leader-elect*` flags."""
    d = LeaderElectionOptions()
    bool_flag(parser, "--leader-elect", leader_elect, "campaign for a Lease, work while leading")
    parser.add_argument("--leader-elect-resource-name", default=resource_name)
    parser.add_argument("--leader-elect-resource-namespace", default=d.resource_namespace)
    parser.add_argument(
        "--leader-elect-lease-duration", type=positive_duration, default=d.lease_duration,
        metavar="DURATION",
    )  # fmt: skip
    parser.add_argument(
        "--leader-elect-renew-deadline", type=positive_duration, default=d.renew_deadline,
        metavar="DURATION",
    )  # fmt: skip
    parser.add_argument(
        "--leader-elect-retry-period", type=positive_duration, default=d.retry_period,
        metavar="DURATION",
    )  # fmt: skip


def leader_election_options(
    args: argparse.Namespace, parser: argparse.ArgumentParser
) -> LeaderElectionOptions:
    options = LeaderElectionOptions(
        leader_elect=args.leader_elect,
        resource_name=args.leader_elect_resource_name,
        resource_namespace=args.leader_elect_resource_namespace,
        lease_duration=args.leader_elect_lease_duration,
        renew_deadline=args.leader_elect_renew_deadline,
        retry_period=args.leader_elect_retry_period,
    )
    if not options.lease_duration > options.renew_deadline > options.retry_period > 0:
        parser.error(
            "--leader-elect-lease-duration must be greater than --leader-elect-renew-deadline, "
            "which must be greater than --leader-elect-retry-period"
        )
    return options


# --- health and metrics server ------------------------------------------------------------------


@dataclass(frozen=True)
class HealthzOptions:
    bind_address: str = "127.0.0.1"
    """Address of the /healthz, /readyz and /metrics server."""
    port: int = 0
    """Its port; 0 picks a free one, a negative value serves none."""


def add_healthz_flags(
    parser: argparse.ArgumentParser, default_port: int, bind_address: str = "127.0.0.1"
) -> None:
    parser.add_argument("--healthz-bind-address", default=bind_address)
    parser.add_argument(
        "--healthz-port", type=port, default=default_port,
        help="port of /healthz, /readyz and /metrics (0: a free port, <0: none)",
    )  # fmt: skip


def healthz_options(args: argparse.Namespace) -> HealthzOptions:
    return HealthzOptions(bind_address=args.healthz_bind_address, port=args.healthz_port)


# --- logging ------------------------------------------------------------------------------------

LOG_LEVELS = ("debug", "info", "warning", "error")


def log_level(text: str) -> str:
    """A logging level from `--v` (klog's number: 4 and above is debug) or a level name."""
    lowered = text.strip().lower()
    if lowered.isascii() and lowered.isdigit():
        return "debug" if int(lowered) >= 4 else "info"
    if lowered == "warn":
        return "warning"
    if lowered in LOG_LEVELS:
        return lowered
    raise argparse.ArgumentTypeError(
        f"invalid log level {text!r}: a klog verbosity (0-10) or one of {', '.join(LOG_LEVELS)}"
    )


def add_logging_flags(parser: argparse.ArgumentParser, default: str = "info") -> None:
    parser.add_argument(
        "--v", "-v", "--log-level", dest="log_level", type=log_level, default=default,
        metavar="LEVEL", help="klog verbosity (>= 4: debug) or debug/info/warning/error",
    )  # fmt: skip
