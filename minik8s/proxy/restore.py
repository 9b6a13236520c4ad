"""Pure planning of one sync: which chains to write and delete, in how many restore calls.

A sync writes only chains whose rules changed since they were last applied (all of them on a
full resync) and deletes our chains that are no longer rendered. When that fits in
`chunk` chains it is one atomic `iptables-restore --noflush` call. iptables-nft's restore is
quadratic in the chains of one transaction (30 000 chains: 34 s in one call, 4 s in calls of
300), so a larger sync is staged so that every intermediate state is consistent: new chains
are written leaves first (SEP, then SVC, then the top chains that jump to them), and stale
chains are flushed and only then deleted, once nothing jumps to them any more.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from minik8s.proxy import rules as r

ChainKey = tuple[str, str]
"""(table, chain)."""


@dataclass
class Step:
    """One `iptables-restore --noflush` call."""

    written: dict[ChainKey, tuple[str, ...]] = field(default_factory=dict)
    """Chains declared (so flushed) and filled with these rules."""
    flushed: list[ChainKey] = field(default_factory=list)
    """Stale chains only emptied (a later step deletes them)."""
    deleted: list[ChainKey] = field(default_factory=list)
    """Stale chains flushed and deleted."""

    def size(self) -> int:
        return len(self.written) + len(self.flushed) + len(self.deleted)

    def render(self) -> str:
        lines: list[str] = []
        for table in r.TABLES:
            written = [(c, rs) for (t, c), rs in self.written.items() if t == table]
            flushed = [c for t, c in self.flushed if t == table]
            deleted = [c for t, c in self.deleted if t == table]
            if not (written or flushed or deleted):
                continue
            lines.append(f"*{table}")
            lines.extend(f":{chain} - [0:0]" for chain, _ in written)
            lines.extend(f":{chain} - [0:0]" for chain in (*flushed, *deleted))
            for chain, chain_rules in written:
                lines.extend(f"-A {chain} {rule}" for rule in chain_rules)
            lines.extend(f"-X {chain}" for chain in deleted)
            lines.append("COMMIT")
        return "\n".join(lines) + "\n" if lines else ""


def flatten(rules: r.RuleSet) -> dict[ChainKey, tuple[str, ...]]:
    return {
        (table, chain): tuple(chain_rules)
        for table, chains in rules.tables.items()
        for chain, chain_rules in chains.items()
    }


def plan(
    desired: Mapping[ChainKey, tuple[str, ...]],
    applied: Mapping[ChainKey, tuple[str, ...]],
    existing: set[ChainKey],
    chunk: int,
) -> list[Step]:
    """The restore calls that take the kernel from `existing`/`applied` to `desired`.

    `applied` holds the rules we know a chain has (empty: rewrite everything); `existing`
    every chain of ours in the kernel now. Returns no step when nothing changed.
    """
    changed = [
        key for key, chain_rules in desired.items()
        if key not in existing or applied.get(key) != chain_rules
    ]  # fmt: skip
    stale = sorted(key for key in existing if key not in desired)
    if len(changed) + len(stale) <= chunk:
        step = Step(written={key: desired[key] for key in changed}, deleted=stale)
        return [step] if step.size() else []
    ordered = sorted(changed, key=lambda key: r.chain_level(key[1]))  # stable: keeps render order
    steps = [Step(written={key: desired[key] for key in part}) for part in _chunks(ordered, chunk)]
    steps += [Step(flushed=list(part)) for part in _chunks(stale, chunk)]
    steps += [Step(deleted=list(part)) for part in _chunks(stale, chunk)]
    return steps


def _chunks(items: Sequence[ChainKey], size: int) -> list[Sequence[ChainKey]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
