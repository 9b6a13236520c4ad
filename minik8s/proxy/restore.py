"""Pure planning of one sync: which chains to write and delete, in which restore calls.

A sync writes only chains whose rules changed since they were last applied (all of them on a
full resync), deletes our chains that are no longer rendered and, on a full sync, inserts the
jumps from the built-in chains that are missing. What iptables-nft (1.8.9) makes this cost,
measured at 5 000 services (30 000 chains, 85 000 rules):

- Per transaction, `iptables-nft-restore` keeps every chain name a line mentions (the chain and
  its jump target) in a *sorted linked list*: each mention walks it from the smallest name. With
  every chain's rules right after its `:chain` line, and chains in descending name order, each
  new name goes to the head and each mention is O(1). What stays expensive is a chain whose
  rules jump to chains with smaller names (SVC → SEP): each of its lines walks past every such
  name the transaction mentioned so far. So a transaction is bounded by `budget` distinct
  smaller-named jump targets: the whole ruleset in one transaction took 34 s. It also asks the
  kernel for every chain it mentions, one request each.
- Every commit that adds jumps or xt matches makes the kernel validate the table: a walk over
  all its chains (~10 ms at 30 000 chains) and, once the built-in chains jump to ours, over the
  whole jump graph (~50-100 ms): few transactions, and larger ones once hooked in.
- The kernel processes a batch under the netns' commit mutex, but iptables' parsing in user
  space runs in parallel: a large sync runs up to `parallel` restore processes at once. An SVC
  chain goes in one transaction with the SEP chains it jumps to (they cost the transaction
  what mentioning them costs anyway): such transactions are complete on their own, so they
  run in any order, and a streamed sync (`service_transactions`) starts them while the next
  ones are still being rendered.
- What remains is per rule (~15-45 µs of CPU each, user + kernel, on a 2-core VM; the kernel
  looks every expression's type up in a list, and every xt match or target costs more than a
  native expression), which is why large clusters drop comments, and why DNAT rules have no
  `-m tcp`.

Every intermediate state is consistent: chains are written by level (leaves first, SEP with or
before the SVC chains that jump to them, SERVICES last, with the jumps that hang it in), each
transaction is atomic, and stale chains are flushed and deleted last, highest level first, once
nothing live jumps to them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from minik8s.proxy import rules as r

ChainKey = tuple[str, str]
"""(table, chain)."""
Jump = tuple[str, str, tuple[str, ...]]
"""(table, built-in chain, rule): a jump of `rules.JUMPS`."""

MIN_RULES_PER_CALL = 2000
"""A level is split over parallel restore processes only in parts of at least this many rules."""
RULES_PER_CALL = 4000
"""The service transactions of a large sync go in restore processes of about this many rules
(about one transaction): each process keeps every chain name it saw in fixed-size hash tables,
so smaller ones parse faster, and the last ones end closer together."""
MAX_RULES_PER_TRANSACTION = 10_000
"""Smaller transactions let two restore processes take turns in the kernel (measured best)."""
HOOKED_FACTOR = 2
"""Once the built-in chains jump to ours every commit validates the whole jump graph (~100 ms
at 85 000 rules): fewer, larger transactions, twice the budget and 3x the rules."""
UNKNOWN_LEVEL = r.TOP_LEVEL + 1
"""Stale chains whose name we do not know (an older version's?): flushed before any delete."""


@dataclass
class Step:
    """One transaction: one table's `*table` … `COMMIT` section, applied atomically."""

    table: str
    written: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Chains declared (so created or flushed) and filled with these rules."""
    jumps: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    """(built-in chain, rule) inserted at the top, after the chains are written."""
    deleted: list[str] = field(default_factory=list)
    """Stale chains flushed and deleted."""

    def keys(self) -> tuple[list[ChainKey], list[ChainKey]]:
        """(written, deleted) as (table, chain) keys."""
        return ([(self.table, c) for c in self.written], [(self.table, c) for c in self.deleted])

    def render(self) -> str:
        lines = [f"*{self.table}"]
        # leaves first (a jump's target is declared before it), then descending names
        for chain in sorted(sorted(self.written, reverse=True), key=r.chain_level):
            chain_rules = self.written[chain]
            if chain_rules:
                append = f"\n-A {chain} "
                lines.append(f":{chain} - [0:0]{append}{append.join(chain_rules)}")
            else:
                lines.append(f":{chain} - [0:0]")
        lines.extend(f"-I {chain} {_quote(rule)}" for chain, rule in self.jumps)
        # highest level first (nothing live jumps to a chain when it goes), descending names
        deleted = sorted(sorted(self.deleted, reverse=True), key=lambda c: -_level(c))
        unknown = [chain for chain in deleted if _level(chain) == UNKNOWN_LEVEL]
        lines.extend(f":{chain} - [0:0]" for chain in unknown)  # they may jump to each other
        for chain in deleted:
            if _level(chain) != UNKNOWN_LEVEL:
                lines.append(f":{chain} - [0:0]")
            lines.append(f"-X {chain}")
        lines.append("COMMIT")
        return "\n".join(lines) + "\n"


Call = list[Step]
"""One `iptables-restore --noflush` process: its transactions, committed in order."""
Stage = list[Call]
"""Restore calls that may run at the same time; a stage starts when the previous one is done."""


def render_call(call: Call) -> str:
    return "".join(step.render() for step in call)


def flatten(rules: r.RuleSet) -> dict[ChainKey, tuple[str, ...]]:
    return {
        (table, chain): tuple(chain_rules)
        for table, chains in rules.tables.items()
        for chain, chain_rules in chains.items()
    }


def _same(applied: tuple[str, ...] | None, desired: tuple[str, ...]) -> bool:
    """Whether a chain's applied rules are the desired ones: by identity first (an unchanged
    service port's chains are the same objects sync after sync, see `Builder.finish_chains`)."""
    return applied is desired or applied == desired


def plan(
    desired: Mapping[ChainKey, tuple[str, ...]],
    applied: Mapping[ChainKey, tuple[str, ...]],
    existing: set[ChainKey],
    jumps: Sequence[Jump] = (),
    budget: int = 1000,
    parallel: int = 2,
    hooked: bool = False,
) -> list[Stage]:
    """The restore calls that take the kernel from `existing`/`applied` to `desired`.

    `applied` holds the rules we know a chain has (empty: rewrite everything); `existing`
    every chain of ours in the kernel now; `jumps` the jumps from built-in chains to insert;
    `hooked`: the nat table's built-in chains already jump to ours. Returns no stage when
    nothing changed. A change within `budget` is one atomic call.
    """
    budget, max_rules = limits(budget, hooked)
    changed = [
        key for key, chain_rules in desired.items()
        if key not in existing or not _same(applied.get(key), chain_rules)
    ]  # fmt: skip
    stale = [key for key in existing if key not in desired]
    if not (changed or stale or jumps):
        return []
    small = len(changed) + len(stale) <= budget  # mixing levels in one transaction: see _merge
    if small and _cost(((key[1], desired[key]) for key in changed), limit=budget) <= budget:
        steps = {}
        for table in r.TABLES:
            step = Step(table, written={c: desired[(t, c)] for t, c in changed if t == table},
                        jumps=[(c, rule) for t, c, rule in jumps if t == table],
                        deleted=[c for t, c in stale if t == table])  # fmt: skip
            if step.written or step.jumps or step.deleted:
                steps[table] = step
        return [[list(steps.values())]]

    stages: list[Stage] = []
    by_level: dict[int, list[ChainKey]] = {}
    for key in changed:
        by_level.setdefault(r.chain_level(key[1]), []).append(key)
    seps, svcs = by_level.pop(1, []), by_level.pop(2, [])
    if 0 in by_level:
        stages.append(_stage(by_level.pop(0), desired, budget, parallel, max_rules))
    if seps or svcs:
        stages.extend(_service_stages(seps, svcs, desired, budget, parallel, max_rules))
    for level in sorted(by_level):
        stages.append(_stage(by_level[level], desired, budget, parallel, max_rules))
    if jumps:
        _add_jumps(stages, jumps)
    if stale:
        deletes = [Step(table, deleted=[c for t, c in stale if t == table]) for table in r.TABLES]
        stages.append([[step for step in deletes if step.deleted]])
    return _merge_single_calls(stages, desired, budget)


def limits(budget: int, hooked: bool) -> tuple[int, int]:
    """(budget, rules) of one transaction."""
    if hooked:
        return budget * HOOKED_FACTOR, MAX_RULES_PER_TRANSACTION * (HOOKED_FACTOR + 1)
    return budget, MAX_RULES_PER_TRANSACTION


def service_transactions(
    groups: Iterable[Sequence[tuple[str, tuple[str, ...]]]],
    budget: int = 1000,
    hooked: bool = False,
) -> Iterator[Step]:
    """Transactions writing these nat chains as the large `plan` writes them, each one handed
    out as soon as it is full: a streamed sync restores them while the next ones are rendered.
    Each group is an SVC chain and the SEP chains only it jumps to (`rules.Builder.groups`);
    it goes whole in one transaction, so transactions are complete on their own and may be
    committed in any order. Their other target (MARK-MASQ) must be in already; the chains
    that jump to these are written afterwards."""
    return _pack(((group, len(group) - 1) for group in groups), *limits(budget, hooked), "nat")


def _pack(
    groups: Iterable[tuple[Sequence[tuple[str, tuple[str, ...]]], int]],
    budget: int,
    max_rules: int,
    table: str,
) -> Iterator[Step]:
    """Transactions of whole groups, each given with its SVC chain's smaller-named targets
    but MARK-MASQ, which is every SVC chain's."""
    step, targets, size = Step(table), 1, 0
    for group, seps in groups:
        rules = sum(len(chain_rules) for _, chain_rules in group)
        if step.written and (targets + seps > budget or size + rules > max_rules):
            yield step
            step, targets, size = Step(table), 1, 0
        step.written.update(group)
        targets += seps
        size += rules
    if step.written:
        yield step


def _stage(
    keys: list[ChainKey],
    desired: Mapping[ChainKey, tuple[str, ...]],
    budget: int,
    parallel: int,
    max_rules: int,
) -> Stage:
    """Chains of one level, split over up to `parallel` calls of transactions within budget."""
    calls: list[Call] = []
    for table in r.TABLES:
        chains = sorted((c for t, c in keys if t == table), reverse=True)
        if not chains:
            continue
        size = sum(len(desired[(table, c)]) for c in chains)
        parts = max(1, min(parallel, size // MIN_RULES_PER_CALL))
        per_part = -(-len(chains) // parts)
        for i, start in enumerate(range(0, len(chains), per_part)):
            part = chains[start : start + per_part]
            steps = _transactions(table, part, desired, budget, max_rules)
            if i < len(calls):
                calls[i].extend(steps)
            else:
                calls.append(steps)
    return calls


def _service_stages(
    seps: list[ChainKey],
    svcs: list[ChainKey],
    desired: Mapping[ChainKey, tuple[str, ...]],
    budget: int,
    parallel: int,
    max_rules: int,
) -> list[Stage]:
    """Each SVC chain in one transaction with the SEP chains only it jumps to: a transaction is
    complete on its own, so these calls may run in any order, at once. SEP chains that no
    changed SVC chain (or more than one) jumps to go first, in a stage of their own.

    A transaction declares the SEP chains, then the SVC chains, so it costs iptables what the
    SVC chains alone would (their jumps mention those SEP names anyway), and it keeps the
    kernel's commits few: each one walks every chain of the table."""
    changed = set(seps)
    owner: dict[ChainKey, ChainKey | None] = {}
    for svc in svcs:
        for target in _targets(desired[svc]):
            sep = (svc[0], target)
            if sep in changed:
                owner[sep] = svc if sep not in owner else None
    owned: dict[ChainKey, list[str]] = {}
    for sep, svc_of in owner.items():
        if svc_of is not None:
            owned.setdefault(svc_of, []).append(sep[1])
    stages: list[Stage] = []
    unowned = [sep for sep in seps if owner.get(sep) is None]
    if unowned:
        stages.append(_stage(unowned, desired, budget, parallel, max_rules))
    steps: list[Step] = []
    for table in r.TABLES:
        groups = (
            ([(svc, desired[(table, svc)]),
              *((sep, desired[(table, sep)]) for sep in owned.get((table, svc), ()))],
             len(_smaller_targets(svc, desired[(table, svc)]) - {r.MARK_MASQ}))
            for svc in sorted((c for t, c in svcs if t == table), reverse=True)
        )  # fmt: skip
        steps.extend(_pack(groups, budget, max_rules, table))
    if steps:
        stages.append(_spread(steps, parallel))
    return stages


def _spread(steps: list[Step], parallel: int) -> Stage:
    """Consecutive transactions in calls of about RULES_PER_CALL rules, at least `parallel`."""
    size = sum(len(rules) for step in steps for rules in step.written.values())
    count = min(len(steps), max(parallel, round(size / RULES_PER_CALL)))
    return [steps[i * len(steps) // count : (i + 1) * len(steps) // count] for i in range(count)]


def _transactions(
    table: str,
    chains: list[str],
    desired: Mapping[ChainKey, tuple[str, ...]],
    budget: int,
    max_rules: int,
) -> list[Step]:
    steps: list[Step] = []
    step = Step(table)
    targets: set[str] = set()
    size = 0
    for chain in chains:
        chain_rules = desired[(table, chain)]
        smaller = _smaller_targets(chain, chain_rules)
        if step.written and (
            len(targets) + len(smaller - targets) > budget or size + len(chain_rules) > max_rules
        ):
            steps.append(step)
            step, targets, size = Step(table), set(), 0
        step.written[chain] = chain_rules
        targets |= smaller
        size += len(chain_rules)
    steps.append(step)
    return steps


def _add_jumps(stages: list[Stage], jumps: Sequence[Jump]) -> None:
    """Into the last stage's (single) call, in the transaction of their table."""
    if len(stages[-1]) != 1:
        stages.append([[]])
    call = stages[-1][0]
    for table in r.TABLES:
        wanted = [(chain, rule) for t, chain, rule in jumps if t == table]
        if not wanted:
            continue
        step = next((s for s in reversed(call) if s.table == table), None)
        if step is None:
            step = Step(table)
            call.append(step)
        step.jumps.extend(wanted)


def _merge_single_calls(
    stages: list[Stage], desired: Mapping[ChainKey, tuple[str, ...]], budget: int
) -> list[Stage]:
    """Consecutive stages of one call each become one call (one process, its transactions in
    order); small transactions of the same table become one (written in level order, so
    consistent). Not large ones: lines of a chain also walk past every smaller name *declared*
    earlier in the transaction (an SVC chain past all the SEP chains written with it)."""
    merged: list[Stage] = []
    for stage in stages:
        if not (merged and len(stage) == 1 and len(merged[-1]) == 1):
            merged.append(stage)
            continue
        call = merged[-1][0]
        for step in stage[0]:
            last = next((s for s in reversed(call) if s.table == step.table), None)
            if (last is not None and not last.deleted
                    and len(last.written) + len(step.written) + len(step.deleted) <= budget
                    and _cost(_items(last, step), limit=budget) <= budget):  # fmt: skip
                last.written.update(step.written)
                last.jumps.extend(step.jumps)
                last.deleted.extend(step.deleted)
            else:
                call.append(step)
    return merged


def _items(*steps: Step) -> Iterable[tuple[str, tuple[str, ...]]]:
    for step in steps:
        yield from step.written.items()


def _cost(chains: Iterable[tuple[str, tuple[str, ...]]], limit: int | None = None) -> int:
    """Distinct jump targets with a smaller name than the chain jumping to them (counting stops
    past `limit`)."""
    targets: set[str] = set()
    for chain, chain_rules in chains:
        targets |= _smaller_targets(chain, chain_rules)
        if limit is not None and len(targets) > limit:
            break
    return len(targets)


def _smaller_targets(chain: str, chain_rules: Iterable[str]) -> set[str]:
    return {target for target in _targets(chain_rules) if target < chain}


def _targets(chain_rules: Iterable[str]) -> list[str]:
    """The chains of ours these rules jump to."""
    return _JUMP.findall("\n".join(chain_rules))


_JUMP = re.compile(rf"-j ({r.PREFIX}[^ \n]+)")


def _level(chain: str) -> int:
    level = r.chain_level(chain)
    if level == r.TOP_LEVEL and chain not in (r.SERVICES, r.EXTERNAL_SERVICES):
        return UNKNOWN_LEVEL
    return level


def _quote(words: Iterable[str]) -> str:
    return " ".join(f'"{w}"' if " " in w else w for w in words)


def deletion(chains: Iterable[ChainKey]) -> list[Step]:
    """One transaction per table that flushes and deletes these chains of ours."""
    chains = list(chains)
    steps = [Step(table, deleted=[c for t, c in chains if t == table]) for table in r.TABLES]
    return [step for step in steps if step.deleted]
