"""The work queue on PostgreSQL: enqueue, lease, commit a step's outcome, recover leases.

Leasing takes due rows with ``FOR UPDATE SKIP LOCKED``, so nodes leasing at once split the
due items between them instead of queueing behind each other. A commit is one call of the
``surge_commit`` SQL function (in the schema), which first locks the run's row: the commits of
one run's parallel steps then apply one after the other, each seeing the last one's memos and
work items, which is what makes the memo order and `Then.DISCOVER_IF_IDLE` sound across
nodes. Every run-scoped writer (commit, cancel) takes the run's row before any work item row,
so they cannot deadlock each other.
"""

from __future__ import annotations

import secrets

from surge.core import codec
from surge.core.errors import StaleLease

from ._pg_ingest import ingest_entries, inserts_only
from ._pg_pool import PgTx
from ._pg_rows import columns, insert_items, pg_array
from ._rows import (
    EVENT_COLUMNS,
    event_to_row,
    history_to_row,
    item_from_row,
    item_to_row,
    json_or_null,
    now_ms,
)
from .records import Commit, NewWorkItem, RunUpdate, Then, WorkItem

# Pushing due_at to the lease expiry hides the item until then and makes it due again after.
_LEASE = (
    "WITH due AS ("
    " SELECT id, due_at FROM work_items WHERE due_at <= %s"
    " ORDER BY due_at, priority DESC LIMIT %s FOR UPDATE SKIP LOCKED)"
    " UPDATE work_items w SET due_at = %s, lease_token = %s || w.id"
    " FROM due WHERE w.id = due.id"
    " RETURNING w.id, w.kind, w.run_id, w.step_id, w.attempt, w.priority, due.due_at,"
    " w.payload, w.unique_key, w.lease_token"
)
# Every parameter cast, so that a NULL or a small int still resolves to the one function.
_COMMIT = (
    "SELECT surge_commit(%s::bigint, %s::text, %s::text, %s::bigint,"
    " %s::text[], %s::text[], %s::text[], %s::text[], %s::bigint[],"
    " %s::boolean, %s::text, %s::bigint, %s::boolean, %s::text, %s::boolean, %s::text,"
    " %s::integer, %s::boolean,"
    " %s::text[], %s::bigint[], %s::text[], %s::text[], %s::int[], %s::text[],"
    " %s::text[], %s::text[], %s::text[], %s::int[], %s::int[], %s::bigint[], %s::text[],"
    " %s::text[],"
    " %s::text, %s::bigint, %s::text)"
)
# A commit whose events are plain inserts (see `inserts_only`), still in one statement: the
# events are inserted only if the commit went through (it returned 1 or 2).
_COMMIT_AND_EVENTS = (
    f"WITH c AS ({_COMMIT} AS outcome),"
    f" e AS (INSERT INTO events ({EVENT_COLUMNS})"
    " SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::bigint[],"
    " %s::bigint[], %s::text[]) WHERE (SELECT outcome FROM c) <> 0"
    " ON CONFLICT (internal_id) DO NOTHING)"
    " SELECT outcome FROM c"
)


async def enqueue(tx: PgTx, items: list[NewWorkItem]) -> None:
    """Insert `items`, skipping those whose `unique_key` is already queued."""
    await insert_items(tx, items)


async def lease_due(tx: PgTx, now: int, limit: int, lease_ms: int) -> list[WorkItem]:
    """Lease up to `limit` due items (see `Storage.lease_due`)."""
    token = secrets.token_hex(8) + ":"
    cursor = await tx.conn.execute(_LEASE, (now, limit, now + lease_ms, token))
    rows = await cursor.fetchall()
    # UPDATE ... RETURNING keeps no order: restore the queue's.
    rows.sort(key=lambda row: (row[6], -row[5], row[0]))
    return [item_from_row(row, lease_token=row[9]) for row in rows]


async def next_due_at(tx: PgTx) -> int | None:
    """The earliest `due_at` in the queue."""
    cursor = await tx.conn.execute("SELECT MIN(due_at) FROM work_items")
    row = await cursor.fetchone()
    return None if row is None else row[0]


async def recover_leases(tx: PgTx, *, single_node: bool) -> None:
    """Make leased items due at once when no other node can be holding them."""
    if not single_node:
        return
    cursor = await tx.conn.execute(
        "UPDATE work_items SET due_at = LEAST(due_at, %s), lease_token = NULL"
        " WHERE lease_token IS NOT NULL RETURNING id",
        (now_ms(),),
    )
    if await cursor.fetchall():
        tx.wake()


async def extend_leases(tx: PgTx, items: list[WorkItem], until: int) -> None:
    """Push still-held leases to `until`."""
    async with tx.conn.cursor() as cursor:
        await cursor.executemany(
            "UPDATE work_items SET due_at = %s WHERE id = %s AND lease_token = %s",
            [(until, item.id, item.lease_token) for item in items],
        )


async def release(tx: PgTx, items: list[WorkItem], now: int) -> None:
    """Make still-held items due at `now` with no lease, and wake every node."""
    async with tx.conn.cursor() as cursor:
        await cursor.executemany(
            "UPDATE work_items SET due_at = %s, lease_token = NULL"
            " WHERE id = %s AND lease_token = %s",
            [(now, item.id, item.lease_token) for item in items],
        )
    tx.wake()


def commit_in_one_statement(commit: Commit) -> bool:
    """Whether `apply_commit` needs no transaction around it (the common case).

    So it is when the step sent no events, or only events that are plain inserts, such as the
    ``inngest/function.finished`` event of a run's last call.
    """
    return not commit.link_events_to_run and all(inserts_only(e) for e in commit.events)


async def apply_commit(tx: PgTx, commit: Commit) -> None:
    """Apply `commit` in the order its docstring gives; raises `StaleLease` first if stale.

    The work is done by the ``surge_commit`` function (see the schema), in one statement;
    events the step sent are then ingested in the same transaction, or by the same statement
    when `commit_in_one_statement`.
    """
    run_id = commit.item.run_id
    for present, what in (
        (commit.memos, "memos"),
        (commit.run_update is not None, "run_update"),
        (commit.link_events_to_run, "link_events_to_run"),
        (commit.then is not Then.NOTHING, "then"),
    ):
        if present and run_id is None:
            raise ValueError(f"a commit with {what} needs a work item that belongs to a run")
    one_statement = commit.events and commit_in_one_statement(commit)
    if one_statement:
        rows = [event_to_row(entry.event) for entry in commit.events]
        params = (*_commit_params(commit), *columns(rows, 7))
        cursor = await tx.conn.execute(_COMMIT_AND_EVENTS, params)
    else:
        cursor = await tx.conn.execute(_COMMIT, _commit_params(commit))
    row = await cursor.fetchone()
    outcome = 0 if row is None else row[0]
    if outcome == 0:
        raise StaleLease(f"work item {commit.item.id} is no longer leased with this token")
    if outcome == 2:
        tx.wake()
    if commit.events and not one_statement:
        await ingest_entries(tx, commit.events)
    if commit.link_events_to_run:
        await tx.conn.execute(
            "UPDATE events SET source_run_id = %s WHERE internal_id = ANY(%s::text[])",
            (run_id, commit.link_events_to_run),
        )


def _commit_params(commit: Commit) -> tuple[object, ...]:
    item = commit.item
    memos = commit.memos
    update = commit.run_update or RunUpdate()
    # `None` means "leave as is", except when the run ends: then it is the final value.
    ending = update.status is not None and update.status.is_final
    history = columns([history_to_row(h) for h in commit.history], 6)
    items = columns([item_to_row(i) for i in commit.enqueue], 8)
    return (
        item.id,
        item.lease_token,
        item.run_id,
        commit.retry_at,
        pg_array(m.step_id for m in memos),
        pg_array(m.name for m in memos),
        pg_array(m.op for m in memos),
        pg_array(codec.dumps_str(m.outcome) for m in memos),
        pg_array(m.at for m in memos),
        commit.run_update is not None,
        None if update.status is None else update.status.value,
        update.ended_at,
        update.output is not None or ending,
        json_or_null(update.output),
        update.error is not None or ending,
        json_or_null(update.error),
        update.request_version,
        update.force_step_plan,
        *history,
        *items,
        commit.then.value,
        now_ms(),
        None,  # no NOTIFY from inside the commit: the pool sends coalesced ones (`_pg_pool`)
    )
