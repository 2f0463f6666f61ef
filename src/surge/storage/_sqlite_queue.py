"""The work queue on SQLite: enqueue, lease, commit a step's outcome, recover leases."""

from __future__ import annotations

import secrets
import sqlite3

from surge.core import codec
from surge.core.errors import StaleLease

from ._rows import (
    INSERT_HISTORY,
    INSERT_ITEM,
    ITEM_COLUMNS,
    chunks,
    discovery_row,
    history_to_row,
    item_from_row,
    item_to_row,
    json_or_null,
    marks,
    now_ms,
)
from ._sqlite_ingest import ingest_entries
from ._sqlite_writer import Tx
from .records import Commit, Memo, NewWorkItem, RunUpdate, Then, WorkItem

_INSERT_MEMO = (
    "INSERT INTO memos (run_id, step_id, seq, name, op, outcome, at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, step_id) DO NOTHING"
)


def enqueue(tx: Tx, items: list[NewWorkItem]) -> None:
    """Insert `items`, skipping those whose `unique_key` is already queued."""
    if items and tx.conn.executemany(INSERT_ITEM, [item_to_row(i) for i in items]).rowcount:
        tx.wake()


def lease_due(conn: sqlite3.Connection, now: int, limit: int, lease_ms: int) -> list[WorkItem]:
    """Lease up to `limit` due items (see `Storage.lease_due`)."""
    rows = conn.execute(
        f"SELECT {ITEM_COLUMNS} FROM work_items WHERE due_at <= ?"
        " ORDER BY due_at, priority DESC LIMIT ?",
        (now, limit),
    ).fetchall()
    if not rows:
        return []
    leased = [item_from_row(row, lease_token=secrets.token_hex(8)) for row in rows]
    # Pushing due_at to the lease expiry hides the item until then and makes it due again after.
    conn.executemany(
        "UPDATE work_items SET due_at = ?, lease_token = ? WHERE id = ?",
        [(now + lease_ms, item.lease_token, item.id) for item in leased],
    )
    return leased


def next_due_at(conn: sqlite3.Connection) -> int | None:
    """The earliest `due_at` in the queue."""
    value: int | None = conn.execute("SELECT MIN(due_at) FROM work_items").fetchone()[0]
    return value


def recover_leases(tx: Tx, *, single_node: bool) -> None:
    """Make leased items due at once when no other node can be holding them."""
    if not single_node:
        return
    cursor = tx.conn.execute(
        "UPDATE work_items SET due_at = MIN(due_at, ?), lease_token = NULL"
        " WHERE lease_token IS NOT NULL",
        (now_ms(),),
    )
    if cursor.rowcount:
        tx.wake()


def extend_leases(tx: Tx, items: list[WorkItem], until: int) -> None:
    """Push still-held leases to `until`."""
    tx.conn.executemany(
        "UPDATE work_items SET due_at = ? WHERE id = ? AND lease_token = ?",
        [(until, item.id, item.lease_token) for item in items],
    )


def release(tx: Tx, items: list[WorkItem], now: int) -> None:
    """Make still-held items due at `now` with no lease."""
    tx.conn.executemany(
        "UPDATE work_items SET due_at = ?, lease_token = NULL WHERE id = ? AND lease_token = ?",
        [(now, item.id, item.lease_token) for item in items],
    )
    tx.wake()


def apply_commit(tx: Tx, commit: Commit) -> None:
    """Apply `commit` in the order its docstring gives; raises `StaleLease` first if stale."""
    conn = tx.conn
    item = commit.item
    _release_item(tx, commit)
    run_id = item.run_id
    if commit.memos:
        _insert_memos(conn, _require(run_id, "memos"), commit.memos)
    if commit.run_update is not None:
        _update_run(conn, _require(run_id, "run_update"), commit.run_update)
    if commit.history:
        conn.executemany(INSERT_HISTORY, [history_to_row(h) for h in commit.history])
    if commit.events:
        ingest_entries(tx, commit.events)
    if commit.link_events_to_run:
        _link_events(conn, _require(run_id, "link_events_to_run"), commit.link_events_to_run)
    enqueue(tx, commit.enqueue)
    if commit.then is not Then.NOTHING:
        _discover(tx, commit, _require(run_id, "then"))


def _require(run_id: str | None, what: str) -> str:
    if run_id is None:
        raise ValueError(f"a commit with {what} needs a work item that belongs to a run")
    return run_id


def _release_item(tx: Tx, commit: Commit) -> None:
    """Delete the leased item, or move it to its retry; `StaleLease` if the lease was lost."""
    item = commit.item
    if commit.retry_at is None:
        cursor = tx.conn.execute(
            "DELETE FROM work_items WHERE id = ? AND lease_token = ?", (item.id, item.lease_token)
        )
    else:
        cursor = tx.conn.execute(
            "UPDATE work_items SET due_at = ?, attempt = attempt + 1, lease_token = NULL"
            " WHERE id = ? AND lease_token = ?",
            (commit.retry_at, item.id, item.lease_token),
        )
        tx.wake()
    if cursor.rowcount != 1:
        raise StaleLease(f"work item {item.id} is no longer leased with this token")


def _insert_memos(conn: sqlite3.Connection, run_id: str, memos: list[Memo]) -> None:
    seq: int = conn.execute(
        "SELECT COALESCE(MAX(seq), 0) FROM memos WHERE run_id = ?", (run_id,)
    ).fetchone()[0]
    for memo in memos:
        row = (run_id, memo.step_id, seq + 1, memo.name, memo.op, codec.dumps_str(memo.outcome))
        # Only an inserted memo takes a place in the stack; a repeated step keeps its first.
        if conn.execute(_INSERT_MEMO, (*row, memo.at)).rowcount:
            seq += 1


def _update_run(conn: sqlite3.Connection, run_id: str, update: RunUpdate) -> None:
    columns: list[str] = []
    values: list[object] = []
    if update.status is not None:
        columns.append("status")
        values.append(update.status.value)
    if update.ended_at is not None:
        columns.append("ended_at")
        values.append(update.ended_at)
    # `None` means "leave as is", except when the run ends: then it is the final value.
    ending = update.status is not None and update.status.is_final
    if update.output is not None or ending:
        columns.append("output")
        values.append(json_or_null(update.output))
    if update.error is not None or ending:
        columns.append("error")
        values.append(json_or_null(update.error))
    if update.request_version is not None:
        columns.append("request_version")
        values.append(update.request_version)
    if update.force_step_plan is not None:
        columns.append("force_step_plan")
        values.append(int(update.force_step_plan))
    if columns:
        assignments = ", ".join(f"{column} = ?" for column in columns)
        conn.execute(f"UPDATE runs SET {assignments} WHERE id = ?", (*values, run_id))


def _link_events(conn: sqlite3.Connection, run_id: str, internal_ids: list[str]) -> None:
    for part in chunks(internal_ids):
        conn.execute(
            f"UPDATE events SET source_run_id = ? WHERE internal_id IN ({marks(len(part))})",
            (run_id, *part),
        )


def _discover(tx: Tx, commit: Commit, run_id: str) -> None:
    if commit.then is Then.DISCOVER_IF_IDLE:
        # Decided inside the transaction, after this commit's own deletes and inserts, so of
        # two parallel steps finishing together exactly the later one queues the discovery.
        # Only a retried item is still there to leave out: a deleted one's rowid may already
        # belong to an item this commit enqueued.
        sql = "SELECT 1 FROM work_items WHERE run_id = ?"
        params: tuple[object, ...] = (run_id,)
        if commit.retry_at is not None:
            sql += " AND id <> ?"
            params = (run_id, commit.item.id)
        other = tx.conn.execute(sql + " LIMIT 1", params).fetchone()
        if other is not None:
            return
    if tx.conn.execute(INSERT_ITEM, discovery_row(run_id, now_ms())).rowcount:
        tx.wake()
