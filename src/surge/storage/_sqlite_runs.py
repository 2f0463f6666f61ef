"""Reading events and runs on SQLite, and cancelling a run."""

from __future__ import annotations

import sqlite3

from surge.core import codec
from surge.core.errors import NotFound

from ._rows import (
    EVENT_COLUMNS,
    HISTORY_COLUMNS,
    INSERT_HISTORY,
    RUN_COLUMNS,
    RUN_FROM,
    chunks,
    event_from_row,
    history_from_row,
    history_to_row,
    list_events_query,
    list_runs_query,
    marks,
    memo_from_row,
    run_from_row,
)
from ._sqlite_writer import Tx
from .records import EventRecord, HistoryEntry, RunRecord, RunState, RunStatus


def get_event(conn: sqlite3.Connection, key: str) -> EventRecord:
    """The event with internal id `key`, else the latest with user id `key`."""
    row = conn.execute(
        f"SELECT {EVENT_COLUMNS} FROM events WHERE internal_id = ?", (key,)
    ).fetchone()
    if row is None:
        row = conn.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE id = ?"
            " ORDER BY received_at DESC, internal_id DESC LIMIT 1",
            (key,),
        ).fetchone()
    if row is None:
        raise NotFound(f"no event {key!r}")
    return event_from_row(row)


def list_events(
    conn: sqlite3.Connection,
    *,
    name: str | None,
    received_after: int | None,
    received_before: int | None,
    limit: int,
    cursor: str | None,
) -> list[EventRecord]:
    """Events newest first (see `list_events_query`)."""
    sql, params = list_events_query(
        "?",
        name=name,
        received_after=received_after,
        received_before=received_before,
        limit=limit,
        cursor=cursor,
    )
    return [event_from_row(row) for row in conn.execute(sql, params)]


def get_run(conn: sqlite3.Connection, run_id: str) -> RunRecord:
    """The run `run_id`, with its parent filled in. Raises `NotFound`."""
    row = conn.execute(f"SELECT {RUN_COLUMNS} FROM {RUN_FROM} WHERE r.id = ?", (run_id,)).fetchone()
    if row is None:
        raise NotFound(f"no run {run_id!r}")
    return run_from_row(row)


def list_runs(
    conn: sqlite3.Connection,
    *,
    event_id: str | None,
    function_id: str | None,
    parent_run_id: str | None,
    limit: int,
    cursor: str | None,
) -> list[RunRecord]:
    """Runs newest first (see `list_runs_query`)."""
    sql, params = list_runs_query(
        "?",
        event_id=event_id,
        function_id=function_id,
        parent_run_id=parent_run_id,
        limit=limit,
        cursor=cursor,
    )
    return [run_from_row(row) for row in conn.execute(sql, params)]


def load_run_state(conn: sqlite3.Connection, run_id: str) -> RunState:
    """The run, its events' payloads in `event_ids` order, and its memos in stack order."""
    run = get_run(conn, run_id)
    payloads: dict[str, str] = {}
    for part in chunks(run.event_ids):
        sql = f"SELECT internal_id, payload FROM events WHERE internal_id IN ({marks(len(part))})"
        payloads.update(conn.execute(sql, part).fetchall())
    events = [codec.loads(payloads[i]) for i in run.event_ids if i in payloads]
    memos = [
        memo_from_row(row)
        for row in conn.execute(
            "SELECT step_id, outcome, name, op, at FROM memos WHERE run_id = ? ORDER BY seq",
            (run_id,),
        )
    ]
    return RunState(run=run, events=events, memos=memos)


def cancel_run(tx: Tx, run_id: str, at: int) -> RunRecord:
    """Cancel a running run and drop its queued work; an ended run is left as it is."""
    conn = tx.conn
    run = get_run(conn, run_id)
    if run.status.is_final:
        return run
    conn.execute(
        "UPDATE runs SET status = ?, ended_at = ? WHERE id = ?",
        (RunStatus.CANCELLED.value, at, run_id),
    )
    conn.execute("DELETE FROM work_items WHERE run_id = ?", (run_id,))
    conn.execute(
        INSERT_HISTORY, history_to_row(HistoryEntry(run_id=run_id, at=at, kind="cancelled"))
    )
    return get_run(conn, run_id)


def run_history(conn: sqlite3.Connection, run_id: str) -> list[HistoryEntry]:
    """The run's history in insertion order."""
    rows = conn.execute(
        f"SELECT {HISTORY_COLUMNS} FROM history WHERE run_id = ? ORDER BY id", (run_id,)
    )
    return [history_from_row(row) for row in rows]
