"""Reading events and runs on PostgreSQL, and cancelling a run."""

from __future__ import annotations

from surge.core import codec
from surge.core.errors import NotFound

from ._pg_pool import PgTx
from ._pg_rows import insert_history
from ._rows import (
    EVENT_COLUMNS,
    HISTORY_COLUMNS,
    RUN_COLUMNS,
    RUN_FROM,
    event_from_row,
    history_from_row,
    list_events_query,
    list_runs_query,
    run_from_row,
)
from .records import EventRecord, HistoryEntry, Memo, RunRecord, RunState, RunStatus

_EVENT_BY_ID = f"SELECT {EVENT_COLUMNS} FROM events WHERE internal_id = %s"
_EVENT_BY_USER_ID = (
    f"SELECT {EVENT_COLUMNS} FROM events WHERE id = %s"
    " ORDER BY received_at DESC, internal_id DESC LIMIT 1"
)
_RUN = f"SELECT {RUN_COLUMNS} FROM {RUN_FROM} WHERE r.id = %s"
# A run's state in one statement, so in one snapshot and one round trip without a transaction:
# the run's row, then its events (by primary key from the run's `event_ids`: ``IN (subquery)``
# would be planned as a scan of every event) and memos as JSON arrays. Stored payloads and
# outcomes are JSON text already; cast to `json` they are embedded verbatim, and one parse reads
# them all.
_RUN_STATE = (
    f"SELECT {RUN_COLUMNS},"
    " (SELECT json_agg(json_build_array(ev.internal_id, ev.payload::json))::text FROM events ev"
    " WHERE ev.internal_id = ANY(ARRAY(SELECT json_array_elements_text(r.event_ids::json)))),"
    " (SELECT json_agg(json_build_array(m.step_id, m.outcome::json, m.name, m.op, m.at)"
    " ORDER BY m.seq)::text FROM memos m WHERE m.run_id = r.id)"
    f" FROM {RUN_FROM} WHERE r.id = %s"
)


async def get_event(tx: PgTx, key: str) -> EventRecord:
    """The event with internal id `key`, else the latest with user id `key`."""
    conn = tx.conn
    row = await (await conn.execute(_EVENT_BY_ID, (key,))).fetchone()
    if row is None:
        row = await (await conn.execute(_EVENT_BY_USER_ID, (key,))).fetchone()
    if row is None:
        raise NotFound(f"no event {key!r}")
    return event_from_row(row)


async def list_events(
    tx: PgTx,
    *,
    name: str | None,
    received_after: int | None,
    received_before: int | None,
    limit: int,
    cursor: str | None,
) -> list[EventRecord]:
    """Events newest first (see `list_events_query`)."""
    sql, params = list_events_query(
        "%s",
        name=name,
        received_after=received_after,
        received_before=received_before,
        limit=limit,
        cursor=cursor,
    )
    rows = await (await tx.conn.execute(sql, params)).fetchall()
    return [event_from_row(row) for row in rows]


async def get_run(tx: PgTx, run_id: str, *, lock: bool = False) -> RunRecord:
    """The run `run_id`, with its parent filled in. Raises `NotFound`."""
    sql = _RUN + " FOR UPDATE OF r" if lock else _RUN
    row = await (await tx.conn.execute(sql, (run_id,))).fetchone()
    if row is None:
        raise NotFound(f"no run {run_id!r}")
    return run_from_row(row)


async def list_runs(
    tx: PgTx,
    *,
    event_id: str | None,
    function_id: str | None,
    parent_run_id: str | None,
    limit: int,
    cursor: str | None,
) -> list[RunRecord]:
    """Runs newest first (see `list_runs_query`)."""
    sql, params = list_runs_query(
        "%s",
        event_id=event_id,
        function_id=function_id,
        parent_run_id=parent_run_id,
        limit=limit,
        cursor=cursor,
    )
    rows = await (await tx.conn.execute(sql, params)).fetchall()
    return [run_from_row(row) for row in rows]


async def load_run_state(tx: PgTx, run_id: str) -> RunState:
    """The run, its events' payloads in `event_ids` order, and its memos in stack order.

    One statement: it reads one snapshot even outside a transaction.
    """
    row = await (await tx.conn.execute(_RUN_STATE, (run_id,))).fetchone()
    if row is None:
        raise NotFound(f"no run {run_id!r}")
    run = run_from_row(row)
    payloads = dict(codec.loads(row[-2])) if row[-2] is not None else {}
    memos = codec.loads(row[-1]) if row[-1] is not None else []
    return RunState(
        run=run,
        events=[payloads[i] for i in run.event_ids if i in payloads],
        memos=[
            Memo(step_id=step_id, outcome=outcome, name=name, op=op, at=at)
            for step_id, outcome, name, op, at in memos
        ],
    )


async def cancel_run(tx: PgTx, run_id: str, at: int) -> RunRecord:
    """Cancel a running run and drop its queued work; an ended run is left as it is."""
    run = await get_run(tx, run_id, lock=True)
    if run.status.is_final:
        return run
    conn = tx.conn
    await conn.execute(
        "UPDATE runs SET status = %s, ended_at = %s WHERE id = %s",
        (RunStatus.CANCELLED.value, at, run_id),
    )
    await conn.execute("DELETE FROM work_items WHERE run_id = %s", (run_id,))
    await insert_history(tx, [HistoryEntry(run_id=run_id, at=at, kind="cancelled")])
    return await get_run(tx, run_id)


async def run_history(tx: PgTx, run_id: str) -> list[HistoryEntry]:
    """The run's history in insertion order."""
    sql = f"SELECT {HISTORY_COLUMNS} FROM history WHERE run_id = %s ORDER BY id"
    rows = await (await tx.conn.execute(sql, (run_id,))).fetchall()
    return [history_from_row(row) for row in rows]
