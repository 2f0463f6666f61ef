"""The work queue: enqueue, lease, renew, hand back and recover work items.

A leased item's ``due_at`` is pushed to its lease expiry, so one index serves both "what is
due" and "whose lease lapsed"; ``fell_due_at`` keeps the time it fell due. Leasing locks the
rows it takes with ``FOR UPDATE SKIP LOCKED`` where the database has row locks, so nodes
leasing at once split the due items between them instead of queueing behind each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..records import DISCOVERY, NewWorkItem, WorkItem, WorkKind, step_key
from ..statements import WAKE, InsertRows, Rule, Statement, execute, fetch, fetch_one
from ..tables import LEASED_ITEM_COLUMNS, WORK_ITEMS, leased_item_from
from .slots import PARKED

ITEM_CONFLICT = "ON CONFLICT (unique_key) DO NOTHING"
"""An item whose `unique_key` is already queued is not queued again."""

_LEASE = (
    "UPDATE work_items SET fell_due_at = due_at, due_at = ?,"
    " lease_token = CAST(? AS TEXT) || CAST(id AS TEXT)"
    " WHERE id {in_select}(SELECT id FROM work_items WHERE due_at <= ?"
    " ORDER BY due_at, priority DESC LIMIT ? {skip_locked}){end_in_select}"
    f" RETURNING {LEASED_ITEM_COLUMNS}"
)
# Timers and urgent calls first (`URGENT`): a backlog of calls would make them late by its
# length.
_LEASE_FIRST = _LEASE.replace(
    "WHERE due_at <= ?", "WHERE (kind <> 'call' OR priority > 0) AND due_at <= ?"
)
_NEXT_DUE = "SELECT MIN(due_at) FROM work_items WHERE due_at < ?"
_NEXT_FIRST_DUE = (
    "SELECT MIN(due_at) FROM work_items WHERE (kind <> 'call' OR priority > 0) AND due_at < ?"
)
IDLE = "NOT EXISTS (SELECT 1 FROM work_items WHERE run_id = ? AND kind <> 'timeout'{also})"
"""The run of the parameter has no pending work (its `timeouts` checks aside: they stay queued
until it ends); `{also}` narrows the items that count (formatted)."""
_HELD = "id {in_ints} AND lease_token {in_texts}"
"""The items of a list still leased with their tokens (a token names one item)."""


def discovery_row(run_id: str, due_at: int, flow: str | None) -> tuple[object, ...]:
    """The `WORK_ITEMS` row of the call that runs a function from the top (a run has at most
    one queued)."""
    key = step_key(run_id, DISCOVERY)
    return (WorkKind.CALL.value, run_id, DISCOVERY, 0, 0, due_at, "{}", key, flow)


def enqueue(items: Sequence[NewWorkItem]) -> Rule[None]:
    """Queue `items`, skipping those whose `unique_key` is already queued."""
    statements = enqueued(items)
    if statements:
        yield tuple(statements)


def enqueued(items: Sequence[NewWorkItem]) -> list[Statement]:
    """The statements that queue `items` (see `enqueue`)."""
    if not items:
        return []
    return [
        InsertRows(WORK_ITEMS, [WORK_ITEMS.row_of(item) for item in items], ITEM_CONFLICT),
        WAKE,
    ]


def lease_due(
    *, now: int, limit: int, lease_ms: int, token: str, first: bool = True, ahead_ms: int = 0
) -> Rule[tuple[list[WorkItem], int | None, int | None]]:
    """Lease up to `limit` due items — with `first`, everything but calls (wake-ups, cron
    ticks, gather closes, matches, cancellations) and `URGENT` calls first, those due within
    `ahead_ms` too, then the rest — earliest first; and, read in the same step, the earliest
    due time left in the queue (see `next_due_at`) and the earliest of those that go first
    (`None`: there are none).

    Each item's lease token is `token` followed by its id.
    """
    ahead: list[tuple[Any, ...]] = []
    if first:
        ahead = yield fetch(_LEASE_FIRST, now + lease_ms, token, now + ahead_ms, limit)
    rows, due, first_due = yield (
        fetch(_LEASE, now + lease_ms, token, now, limit - len(ahead)),
        fetch_one(_NEXT_DUE, PARKED),
        fetch_one(_NEXT_FIRST_DUE, PARKED),
    )
    items = [leased_item_from(row) for row in (*ahead, *rows)]
    items.sort(key=lambda item: (item.due_at, -item.priority, item.id))
    return items, None if due is None else due[0], None if first_due is None else first_due[0]


def next_due_at() -> Rule[int | None]:
    """The earliest due time in the queue, leased items included, parked ones not."""
    row = yield fetch_one(_NEXT_DUE, PARKED)
    return None if row is None else row[0]


# An item a transaction holds locked is left alone: a commit of it is under way, which
# deletes or rewrites it; waiting for it could deadlock with a group of commits that locks
# the same items in another order.
_UNLOCKED = (
    f"id {{in_select}}(SELECT id FROM work_items WHERE {_HELD} {{skip_locked}}){{end_in_select}}"
)


def extend_leases(items: Sequence[WorkItem], *, until: int) -> Rule[None]:
    """Push the lease of each item still held with its token to `until` (but those a
    transaction holds locked: a commit of theirs is under way)."""
    if items:
        ids, tokens = [i.id for i in items], [i.lease_token for i in items]
        yield execute(f"UPDATE work_items SET due_at = ? WHERE {_UNLOCKED}", until, ids, tokens)


def release(items: Sequence[WorkItem], *, now: int) -> Rule[None]:
    """Make each item still held with its token due at `now`, with no lease (but those a
    transaction holds locked, as for `extend_leases`)."""
    if items:
        ids, tokens = [i.id for i in items], [i.lease_token for i in items]
        sql = f"UPDATE work_items SET due_at = ?, lease_token = NULL WHERE {_UNLOCKED}"
        yield execute(sql, now, ids, tokens)
        yield WAKE


def recover_leases(*, now: int) -> Rule[None]:
    """Hand back every leased item: due when it first fell due (or `now`), with no lease."""
    yield execute(
        "UPDATE work_items SET due_at = COALESCE(fell_due_at, ?), lease_token = NULL"
        " WHERE lease_token IS NOT NULL",
        now,
    )
    yield WAKE
