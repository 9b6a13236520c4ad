"""The only module that changes the host's network: iptables, the Service route, sysctls.

Everything it creates is ours by name: chains start with `MINIK8S-`, the jumps to them live in
the built-in chains, the Service CIDR is routed to our bridge (`minik8s-svc`). `cleanup()`
removes exactly those and puts back the sysctls we changed; it never flushes a chain or
deletes a route or link that is not ours. Binaries run from threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from minik8s.componentbase import hostroute
from minik8s.proxy import restore
from minik8s.proxy import rules as r
from minik8s.proxy.restore import ChainKey, Jump

logger = logging.getLogger(__name__)

SYSCTLS: dict[str, str] = {
    "net.ipv4.ip_forward": "1",
    "net.bridge.bridge-nf-call-iptables": "1",  # pod → Service → pod on the same bridge
}
"""What kube-proxy needs; each is set only if present, and its old value remembered."""
ROUTE_LOCALNET = "net.ipv4.conf.all.route_localnet"
"""NodePorts on 127.0.0.1 (as kube-proxy's localhost node ports): set only when NodePorts may
answer on loopback, and only once MINIK8S-FIREWALL drops what else would reach 127.0.0.0/8."""

LOCK_WAIT = "5"
"""Seconds an iptables call waits for the xtables lock (`-w`)."""


class IptablesError(Exception):
    """A binary failed; the message holds its command line and stderr."""


class Netfilter(Protocol):
    """What the syncer needs from the host (a fake implements it in unit tests)."""

    async def prepare(self) -> None: ...
    async def local_addresses(self) -> list[str]: ...
    async def list_chains(self) -> set[ChainKey]: ...
    async def missing_jumps(self, existing: set[ChainKey]) -> list[Jump]: ...
    async def restore(self, text: str) -> None: ...
    async def cleanup(self) -> None: ...


@dataclass
class Host:
    """The real host: binaries found on PATH, sysctls under /proc/sys."""

    service_cidr: str
    bridge: str = "minik8s-svc"
    localnet: bool = True
    """NodePorts may answer on 127.0.0.1: route_localnet on, behind MINIK8S-FIREWALL."""
    state_file: Path = Path("/run/minik8s/proxy-state.json")
    proc_sys: Path = Path("/proc/sys")

    # --- running binaries --------------------------------------------------------------------

    async def run(self, *argv: str, stdin: str | None = None, check: bool = True) -> str:
        """Run a binary from a thread, which waits for it: a large sync runs dozens of restores
        while another thread renders their input, and the event loop would get the GIL to
        start and reap each one only now and then."""
        return await asyncio.to_thread(_run, argv, stdin, check)

    async def _succeeds(self, *argv: str) -> bool:
        try:
            await self.run(*argv)
        except IptablesError:
            return False
        return True

    # --- before any rule: the Service route and the sysctls ---------------------------------

    async def prepare(self) -> None:
        """Route the Service CIDR to our bridge, install the localnet firewall, then set the
        sysctls (route_localnet last: never a moment without the rule that guards it)."""
        await self.ensure_route()
        if self.localnet:
            await self.ensure_firewall()
        self.set_sysctls()

    async def ensure_firewall(self) -> None:
        """MINIK8S-FIREWALL and its jump from INPUT, in one transaction."""
        table, chain, rule = next(j for j in r.JUMPS if j[2][-1] == r.FIREWALL)
        step = restore.Step(table, written={r.FIREWALL: r.FIREWALL_RULES})
        if not await self._succeeds("iptables", "-w", LOCK_WAIT, "-t", table, "-C", chain, *rule):
            step.jumps.append((chain, rule))
        await self.restore(restore.render_call([step]))
        logger.info("installed %s before route_localnet", r.FIREWALL)

    async def local_addresses(self) -> list[str]:
        """The IPv4 addresses of this host's interfaces."""
        listing = json.loads(await self.run("ip", "-j", "-4", "addr", "show") or "[]")
        return [info["local"] for link in listing for info in link.get("addr_info") or []
                if info.get("local")]  # fmt: skip

    async def ensure_route(self) -> None:
        try:
            await hostroute.ensure_route(self.service_cidr, self.bridge)
        except hostroute.RouteError as e:
            raise IptablesError(f"the Service CIDR: {e}") from e

    def set_sysctls(self) -> None:
        saved = self._load_state()
        originals: dict[str, str] = dict(saved.get("sysctls") or {})
        wanted = {**SYSCTLS, **({ROUTE_LOCALNET: "1"} if self.localnet else {})}
        for name, value in wanted.items():
            path = self.proc_sys / name.replace(".", "/")
            if not path.exists():
                logger.info("sysctl %s is not available; skipped", name)
                continue
            current = path.read_text().strip()
            if current != value:
                originals.setdefault(name, current)
                path.write_text(value)
                logger.info("set sysctl %s=%s (was %s)", name, value, current)
        self._save_state({"sysctls": originals})

    def restore_sysctls(self) -> None:
        for name, value in (self._load_state().get("sysctls") or {}).items():
            path = self.proc_sys / name.replace(".", "/")
            if path.exists():
                path.write_text(value)
                logger.info("restored sysctl %s=%s", name, value)
        self.state_file.unlink(missing_ok=True)

    def _load_state(self) -> dict:
        try:
            return dict(json.loads(self.state_file.read_text()))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            logger.warning("ignoring unreadable state file %s: %s", self.state_file, e)
            return {}

    def _save_state(self, state: dict) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(self.state_file)

    # --- rules -----------------------------------------------------------------------------

    async def restore(self, text: str) -> None:
        """One `iptables-restore --noflush` process; each `*table` … `COMMIT` is atomic."""
        await self.run("iptables-restore", "-w", LOCK_WAIT, "--noflush", stdin=text)

    async def list_chains(self) -> set[ChainKey]:
        """Every `MINIK8S-` chain in our tables (nft lists names in ms; iptables-save takes
        seconds once there are thousands of chains, so it is only the fallback)."""
        if shutil.which("nft"):
            try:
                return _parse_nft_chains(await self.run("nft", "list", "chains", "ip"))
            except IptablesError as e:
                logger.info("nft could not list chains (%s); using iptables-save", e)
        found: set[ChainKey] = set()
        for table in r.TABLES:
            for line in (await self.run("iptables-save", "-t", table)).splitlines():
                if line.startswith(":" + r.PREFIX):
                    found.add((table, line[1:].split()[0]))
        return found

    async def missing_jumps(self, existing: set[ChainKey]) -> list[Jump]:
        """The jumps of `rules.JUMPS` (and `DOCKER_JUMPS` where dockerd made DOCKER-USER) not
        in their chain. A jump to a chain that does not exist cannot be there; the others are
        checked all at once."""
        wanted = list(r.JUMPS)
        if await self._docker_user():
            wanted += r.DOCKER_JUMPS
        maybe = [jump for jump in wanted if (jump[0], jump[2][-1]) in existing]
        present = await asyncio.gather(*(
            self._succeeds("iptables", "-w", LOCK_WAIT, "-t", table, "-C", chain, *rule)
            for table, chain, rule in maybe
        ))  # fmt: skip
        there = {jump for jump, ok in zip(maybe, present, strict=True) if ok}
        return [jump for jump in wanted if jump not in there]

    async def _docker_user(self) -> bool:
        return await self._succeeds(
            "iptables", "-w", LOCK_WAIT, "-t", "filter", "-S", r.DOCKER_USER
        )

    # --- cleanup ---------------------------------------------------------------------------

    async def cleanup(self) -> None:
        """Restore the sysctls we changed (route_localnet before its firewall goes), then
        remove our jumps, chains, route and bridge."""
        self.restore_sysctls()
        if shutil.which("iptables"):
            await self.remove_jumps()
            chains = await self.list_chains()
            if chains:  # nothing jumps to them any more: one transaction per table
                await self.restore(restore.render_call(restore.deletion(chains)))
                logger.info("deleted %d chains", len(chains))
        await hostroute.delete_bridge(self.bridge)  # its routes go with it

    async def remove_jumps(self) -> None:
        """Delete every rule in a built-in chain that jumps to a chain of ours (one transaction
        per table: once the graph of our chains hangs in, each commit validates all of it)."""
        builtins = [(table, chain) for table, chains in r.BUILTIN_CHAINS.items()
                    for chain in chains]  # fmt: skip
        if await self._docker_user():
            builtins.append(("filter", r.DOCKER_USER))
        listings = await asyncio.gather(*(
            self.run("iptables", "-w", LOCK_WAIT, "-t", table, "-S", chain)
            for table, chain in builtins
        ))  # fmt: skip
        deletions: dict[str, list[str]] = {}
        for (table, chain), listing in zip(builtins, listings, strict=True):
            for line in listing.splitlines():
                words = shlex.split(line)
                if words[:2] == ["-A", chain] and _jumps_to_ours(words):
                    deletions.setdefault(table, []).append("-D" + line[2:])
                    logger.info("removing jump %s/%s -> %s", table, chain, words[-1])
        if deletions:
            await self.restore("".join(f"*{table}\n" + "\n".join(lines) + "\nCOMMIT\n"
                                       for table, lines in deletions.items()))  # fmt: skip


def _run(argv: tuple[str, ...], stdin: str | None, check: bool) -> str:
    with _memory_file(stdin) as source:  # not a pipe: the binary never waits for us
        done = subprocess.run(
            argv, stdin=subprocess.DEVNULL if source is None else source, capture_output=True
        )
    if check and done.returncode != 0:
        raise IptablesError(
            f"{shlex.join(argv)} exited {done.returncode}: {done.stderr.decode().strip()}"
        )
    return done.stdout.decode()


@contextlib.contextmanager
def _memory_file(text: str | None) -> Iterator[int | None]:
    """A file descriptor reading `text` from its start (None for None)."""
    if text is None:
        yield None
        return
    fd = os.memfd_create("minik8s-proxy-input")
    try:
        data = memoryview(text.encode())
        while data:
            data = data[os.write(fd, data) :]
        os.lseek(fd, 0, os.SEEK_SET)
        yield fd
    finally:
        os.close(fd)


def _jumps_to_ours(words: list[str]) -> bool:
    for flag in ("-j", "-g"):
        if flag in words:
            i = words.index(flag)
            if i + 1 < len(words) and words[i + 1].startswith(r.PREFIX):
                return True
    return False


def _parse_nft_chains(listing: str) -> set[ChainKey]:
    found: set[ChainKey] = set()
    table: str | None = None
    for line in listing.splitlines():
        words = line.split()
        if words[:2] == ["table", "ip"] and len(words) >= 3:
            table = words[2] if words[2] in r.TABLES else None
        elif table and words[:1] == ["chain"] and len(words) >= 2:
            if words[1].startswith(r.PREFIX):
                found.add((table, words[1]))
    return found
