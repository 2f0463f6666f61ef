"""Concurrency slots: a call of a limited run runs only while it holds a slot of each key.

A run's limits (`Limit`: a key and how many of its steps may execute at once) are fixed when
it starts. A leased call of such a run takes a slot of every key at once, if each has one
free; the holders of a key are counted, not tracked in a counter: the items whose ``slot1`` or
``slot2`` names it. A call that finds a key full is parked on it: out of the due index
(``due_at`` = `PARKED`), ordered by its run's start (moved by its priority: ``queued_at``),
so the runs that began first finish first. Whoever frees a slot (a commit that deletes or
retries its call, a cancellation) unparks as many calls of that key, which then compete for
it like any due item.

Counting and parking happen under a lock per key (`Serialize`), which whoever unparks takes
too: a call parked while a slot frees on another node is seen by that node. A handed-back or
lapsed call keeps its slots until it runs again. Queued, sleeping and waiting runs hold none.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence

from ..records import NewRun, WorkItem
from ..statements import WAKE, Rule, Serialize, Statement, execute, fetch, fetch_one
from ..tables import LEASED_ITEM_COLUMNS, leased_item_from, limits_of

PARKED = 1 << 62
"""The `due_at` of a parked call: later than any real due time."""

_LOCK_BASE = 1_000
"""Slot locks sit above the other advisory lock keys (user-id buckets use 1..64)."""

_HOLDERS = (
    "SELECT k, COUNT(*) FROM (SELECT slot1 AS k FROM work_items WHERE slot1 {in_texts}"
    " UNION ALL SELECT slot2 AS k FROM work_items WHERE slot2 {in_texts}) AS held GROUP BY k"
)
_HOLD = "UPDATE work_items SET slot1 = ?, slot2 = ? WHERE id = ? AND lease_token = ?"
_PARK = (
    "UPDATE work_items SET parked_on = ?, due_at = ?, lease_token = NULL,"
    " fell_due_at = COALESCE((SELECT COALESCE(r.queued_at, r.started_at) FROM runs r"
    " WHERE r.id = work_items.run_id), fell_due_at) WHERE id {in_ints} AND lease_token {in_texts}"
)
_UNPARK = (
    "UPDATE work_items SET due_at = COALESCE(fell_due_at, 0), parked_on = NULL WHERE id IN"
    " (SELECT id FROM work_items WHERE parked_on = ? ORDER BY fell_due_at, id LIMIT ?)"
)


def lock(keys: Iterable[str]) -> Serialize:
    """The lock every rule counting, parking or unparking on `keys` (or deciding a start gate
    of theirs: `gates`) takes first."""
    return Serialize(tuple(sorted(lock_ids(keys))))


def lock_ids(keys: Iterable[str]) -> set[int]:
    """The advisory lock ids `lock` takes for `keys`, to take at once with others."""
    return {_LOCK_BASE + zlib.crc32(k.encode()) % 2**30 for k in keys}


def acquire(items: Sequence[WorkItem]) -> Rule[list[WorkItem]]:
    """Of leased `items`, those that may run: each call of a limited run takes its slots, or
    is parked (and left out) when a key is full. The runs that started first are served
    first (run ids are ULIDs: they sort by start), so a run's next step goes ahead of runs
    that have not begun."""
    wanting = sorted(
        (item for item in items if item.limits and not item.slots),
        key=lambda item: (item.run_id or "", item.id),
    )
    if not wanting:
        return list(items)
    keys = sorted({limit.key for item in wanting for limit in item.limits})
    yield lock(keys)
    held: dict[str, int] = dict((yield fetch(_HOLDERS, keys, keys)))
    statements: list[Statement] = []
    parked: dict[str, list[WorkItem]] = {}
    for item in wanting:
        full = next((lim for lim in item.limits if held.get(lim.key, 0) >= lim.limit), None)
        if full is not None:
            parked.setdefault(full.key, []).append(item)
            continue
        item.slots = tuple(limit.key for limit in item.limits)
        for key in item.slots:
            held[key] = held.get(key, 0) + 1
        slot1, slot2 = (*item.slots, None)[:2]
        statements.append(execute(_HOLD, slot1, slot2, item.id, item.lease_token))
    for key, waiting in parked.items():
        ids, tokens = [i.id for i in waiting], [i.lease_token for i in waiting]
        statements.append(execute(_PARK, key, PARKED, ids, tokens))
    yield tuple(statements)
    left_out = {item.id for waiting in parked.values() for item in waiting}
    return [item for item in items if item.id not in left_out]


def first_calls_parked(runs: Sequence[NewRun]) -> Rule[dict[str, str]]:
    """Of new `runs`, those whose first call starts parked, by run id, with the key it waits
    for: a run whose key has no room left for it, counting the calls that hold a slot and the
    runs before it. So a burst of runs for a full key waits out of the due index at once,
    instead of passing through it a lease at a time ahead of other keys' runs."""
    limited = [run for run in runs if run.concurrency]
    if not limited:
        return {}
    keys = sorted({limit.key for run in limited for limit in run.concurrency})
    yield lock(keys)
    used: dict[str, int] = dict((yield fetch(_HOLDERS, keys, keys)))
    parked: dict[str, str] = {}
    for run in limited:
        full = next((lim for lim in run.concurrency if used.get(lim.key, 0) >= lim.limit), None)
        if full is not None:
            parked[run.id] = full.key
            continue
        for limit in run.concurrency:
            used[limit.key] = used.get(limit.key, 0) + 1
    return parked


def freed(keys: Sequence[str]) -> list[Statement]:
    """Unpark one call for each slot freed in `keys` (a key twice frees two); take `lock`
    first."""
    counts: dict[str, int] = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    if not counts:
        return []
    return [*(execute(_UNPARK, key, n) for key, n in sorted(counts.items())), WAKE]


_NEXT_PARKED = (
    "SELECT id, flow FROM work_items WHERE parked_on = ? AND fell_due_at <= ?"
    " ORDER BY fell_due_at, id LIMIT 1"
)
_HAND_OVER = (
    "UPDATE work_items SET parked_on = NULL, slot1 = ?, slot2 = ?, lease_token = ?, due_at = ?"
    f" WHERE id = ? AND parked_on IS NOT NULL RETURNING {LEASED_ITEM_COLUMNS}"
)


def hand_over(
    keys: Sequence[str], *, now: int, token: str, lease_until: int
) -> Rule[WorkItem | None]:
    """Give the slots of `keys`, just freed, to the call that waits first for them, leased
    with `token` until `lease_until`: a call parked on the first key, due by `now`, whose run
    counts on exactly these keys (so it may run with them and nothing more). `None`, changing
    nothing, when no call fits; the caller then frees the slots (`freed`). Take `lock` first."""
    if not keys:
        return None
    row = yield fetch_one(_NEXT_PARKED, keys[0], now)
    if row is None or sorted(lim.key for lim in limits_of(row[1])) != sorted(keys):
        return None
    slot1, slot2 = (*keys, None, None)[:2]
    rows = yield fetch(_HAND_OVER, slot1, slot2, token, lease_until, row[0])
    return leased_item_from(rows[0]) if rows else None


def release_run(run_id: str, *, also_lock: Iterable[str] = ()) -> Rule[None]:
    """Before a run's queued items are dropped (leased ones, in flight, stay until their
    commit frees what they hold): unpark one call for each slot they hold, and for each
    key a call of theirs was due to claim (a run created while its key had room counted on
    it: without it, the calls parked behind it would wait for a slot nobody frees). Takes the
    locks of those keys and of `also_lock` (the keys the rest of the transaction counts on)
    at once, so that no two transactions take them in different orders."""
    rows = yield fetch(
        "SELECT slot1, slot2, flow, parked_on FROM work_items"
        " WHERE run_id = ? AND flow IS NOT NULL AND lease_token IS NULL",
        run_id,
    )
    keys: list[str] = []
    for slot1, slot2, flow, parked_on in rows:
        if slot1 is not None:
            keys += [key for key in (slot1, slot2) if key is not None]
        elif parked_on is None:
            keys += [limit.key for limit in limits_of(flow)]
    wanted = {*keys, *also_lock}
    if wanted:
        yield lock(wanted)
    if keys:
        yield tuple(freed(keys))


def unpark_stranded() -> Rule[None]:
    """At a start: for each key some call waits for while none holds a slot of it, unpark
    one. A safety net: every path that frees a slot unparks a call itself."""
    rows = yield fetch("SELECT DISTINCT parked_on FROM work_items WHERE parked_on IS NOT NULL")
    waiting = [row[0] for row in rows]
    if not waiting:
        return
    yield lock(waiting)
    held = dict((yield fetch(_HOLDERS, waiting, waiting)))
    stranded = [key for key in waiting if not held.get(key)]
    if stranded:
        yield tuple(freed(stranded))
