"""Running a component's work while it leads (kube-controller-manager's and
cloud-controller-manager's leader election): without `--leader-elect` the work runs at once;
with it, once this process holds the Lease. Losing the Lease ends the process (it raises
`LeadershipLost`), so that it restarts clean instead of half-running controllers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from minik8s.client import tasks
from minik8s.client.api import ApiClient
from minik8s.componentbase import options

logger = logging.getLogger(__name__)


class LeadershipLost(Exception):
    """The Lease was lost: the process exits so that it restarts clean."""


async def run_while_leading(
    stop: asyncio.Event,
    election: options.LeaderElectionOptions,
    client: ApiClient,
    work: Callable[[], Coroutine[Any, Any, None]],
    name: str,
    identity: str | None = None,
) -> None:
    """Run `work()` (a task called `name`) until it ends or `stop` is set, while holding the
    Lease if `election.leader_elect`; raise `LeadershipLost` if the Lease is lost first."""
    if not election.leader_elect:
        await tasks.run_until(stop, work(), name)
        return
    async with options.leader_election_client(client) as lease_client:
        elector = options.new_leader_elector(election, lease_client, identity)
        logger.info("campaigning for lease %s as %s", elector.lease_key, elector.identity)
        ended = await tasks.run_until(stop, elector.run(work), name)
    if ended and not stop.is_set():
        raise LeadershipLost(f"leader election lost ({elector.lease_key})")
