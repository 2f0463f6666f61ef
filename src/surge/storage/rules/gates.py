"""Start gates: whether a new run starts, and when — idempotency, rate limits, throttles,
singletons.

Each gate keeps one number per key in ``flow_state``, the time its state runs out (a row past
it means the same as no row, and is pruned now and then):

* an idempotency key: when it expires. A run whose key has not expired is skipped;
* a rate limit or a throttle: the key's theoretical arrival time (TAT) of the generic cell
  rate algorithm, in microseconds. With ``T = period / limit`` and a tolerance of
  ``(limit + burst - 1) * T``, a key admits ``limit + burst`` runs at once, then one every
  ``T``. A rate limit skips a run that finds no room; a throttle makes its first call due
  when room comes, so excess runs wait in the queue in order and none is dropped.

A singleton key is held by the running runs whose ``singleton_key`` it is: with mode ``skip``
a new run finds it held and is skipped; with mode ``cancel`` it starts and the holders are to
be cancelled (`Admission.replaces`).

A run's gates are checked together: a run one gate skips consumes no room in the others.
The caller holds the lock of every gate key (`slots.lock`), so nodes decide one at a time.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..records import GateKind, NewRun
from ..statements import InsertRows, Rule, Statement, execute, fetch
from ..tables import FLOW_STATE

_STATE = "SELECT key, until_us FROM flow_state WHERE key {in_texts}"
_HOLDERS = "SELECT singleton_key, id FROM runs WHERE singleton_key {in_texts} AND ended_at IS NULL"
_SINGLETONS = frozenset({GateKind.SINGLETON, GateKind.SINGLETON_CANCEL})
_SAVE = "ON CONFLICT (key) DO UPDATE SET until_us = excluded.until_us"
_PRUNE = "DELETE FROM flow_state WHERE until_us < ?"
_PRUNE_ONE_IN = 64
"""One admission in this many also deletes the rows whose state ran out."""


@dataclass(frozen=True, slots=True)
class Admission:
    """What the gates decided for a run: when its first call is due, or why it is skipped."""

    due_at: int
    skip_reason: str | None = None
    delayed_by: str | None = None
    """``"throttle"`` or ``"priority"`` when that made it due later than it started."""
    singleton_key: str | None = None
    """The singleton key the run holds while it runs."""
    replaces: tuple[str, ...] = ()
    """The running runs with its singleton key that it replaces: they are to be cancelled."""


def admit(runs: Sequence[NewRun]) -> Rule[dict[str, Admission]]:
    """The admission of each run of `runs` that has gates or a priority, by run id; the gates'
    state is updated for the runs they let through. Runs are decided in order."""
    ruled = [run for run in runs if run.gates or run.priority_ms]
    if not ruled:
        return {}
    keys = sorted({g.key for run in ruled for g in run.gates if g.kind not in _SINGLETONS})
    singles = sorted({g.key for run in ruled for g in run.gates if g.kind in _SINGLETONS})
    reads: list[Statement] = []
    if keys:
        reads.append(fetch(_STATE, keys))
    if singles:
        reads.append(fetch(_HOLDERS, singles))
    results: tuple[Any, ...] = (yield tuple(reads)) if reads else ()
    state: dict[str, int] = dict(results[0]) if keys else {}
    holders: dict[str, list[str]] = {}
    for key, run_id in results[-1] if singles else ():
        holders.setdefault(key, []).append(run_id)
    changed: dict[str, int] = {}
    admissions: dict[str, Admission] = {}
    for run in ruled:
        single = next((g for g in run.gates if g.kind in _SINGLETONS), None)
        if single is not None and single.kind is GateKind.SINGLETON and holders.get(single.key):
            admissions[run.id] = Admission(run.started_at, GateKind.SINGLETON.value)
            continue
        admission, updates = _decide(run, state)
        if single is not None and admission.skip_reason is None:
            replaced = holders.get(single.key, [])
            if single.kind is GateKind.SINGLETON_CANCEL:
                admission = replace(admission, replaces=tuple(replaced))
                replaced = []
            admission = replace(admission, singleton_key=single.key)
            holders[single.key] = [*replaced, run.id]
        admissions[run.id] = admission
        state.update(updates)
        changed.update(updates)
    statements: list[Statement] = []
    if changed:
        rows = sorted(changed.items())
        statements.append(InsertRows(FLOW_STATE, rows, _SAVE))
        if random.randrange(_PRUNE_ONE_IN) == 0:
            statements.append(execute(_PRUNE, ruled[0].started_at * 1000))
    if statements:
        yield tuple(statements)
    return admissions


def _decide(run: NewRun, state: dict[str, int]) -> tuple[Admission, dict[str, int]]:
    now_us = run.started_at * 1000
    start_us = now_us
    updates: dict[str, int] = {}
    for gate in run.gates:
        if gate.kind in _SINGLETONS:
            continue
        until = max(state.get(gate.key, now_us), now_us)
        if gate.kind is GateKind.IDEMPOTENCY:
            if until > now_us:
                return Admission(run.started_at, GateKind.IDEMPOTENCY.value), {}
            updates[gate.key] = now_us + gate.period_ms * 1000
            continue
        emission = -(-gate.period_ms * 1000 // gate.limit)  # rounded up: never faster
        allowed_at = until - (gate.limit + gate.burst - 1) * emission
        if gate.kind is GateKind.RATE_LIMIT and allowed_at > now_us:
            return Admission(run.started_at, GateKind.RATE_LIMIT.value), {}
        start_us = max(start_us, allowed_at)
        updates[gate.key] = until + emission
    due_at = -(-start_us // 1000) - run.priority_ms
    delayed_by = None
    if start_us > now_us:
        delayed_by = GateKind.THROTTLE.value
    elif run.priority_ms < 0:
        delayed_by = "priority"
    return Admission(due_at, delayed_by=delayed_by), updates
