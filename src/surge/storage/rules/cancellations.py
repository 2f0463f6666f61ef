"""Bulk cancellations: a job per cancellation, working through its function's runs in batches.

Creating one stores it with a `CANCEL_RUNS` work item. Each time the item is handled, the
engine reads the next batch of running runs in the range (`batch`, after the last run id the
job reached), cancels those whose trigger matches, and records the progress (`progress`):
the count, and the new position, or the end. Deleting the cancellation stops the job; runs it
cancelled stay cancelled.
"""

from __future__ import annotations

from typing import Any

from surge.core import codec
from surge.core.errors import StaleLease

from ..act_records import Cancellation
from ..records import NewWorkItem, RunStatus, WorkItem, WorkKind
from ..statements import WAKE, Expect, InsertRows, Rule, execute, fetch, fetch_one, newest_first
from ..tables import CANCELLATIONS, WORK_ITEMS, record_from

_RUNS = (
    "SELECT r.id, e.payload FROM runs r LEFT JOIN events e ON e.internal_id = r.first_event_id"
    " WHERE r.function_id = ? AND r.status = ? AND r.started_at >= ? AND r.started_at < ?"
    " AND r.id > ? ORDER BY r.id LIMIT ?"
)


def job_key(cancellation_id: str) -> str:
    return f"cancellation:{cancellation_id}"


def create(cancellation: Cancellation) -> Rule[None]:
    """Store `cancellation` and queue its job."""
    job = NewWorkItem(
        kind=WorkKind.CANCEL_RUNS,
        due_at=cancellation.created_at,
        payload={"cancellation": cancellation.id, "after": ""},
        unique_key=job_key(cancellation.id),
    )
    yield (
        InsertRows(CANCELLATIONS, [CANCELLATIONS.row_of(cancellation)]),
        InsertRows(WORK_ITEMS, [WORK_ITEMS.row_of(job)]),
        WAKE,
    )


def listed(*, limit: int, before: str | None = None) -> Rule[list[Cancellation]]:
    """The `limit` newest cancellations (of those whose id sorts before `before`), newest
    first."""
    page, params = newest_first(before, limit)
    rows = yield fetch(f"SELECT {CANCELLATIONS.names()} FROM cancellations{page}", *params)
    return [record_from(Cancellation, CANCELLATIONS, row) for row in rows]


def get(cancellation_id: str) -> Rule[Cancellation | None]:
    row = yield fetch_one(
        f"SELECT {CANCELLATIONS.names()} FROM cancellations WHERE id = ?", cancellation_id
    )
    return None if row is None else record_from(Cancellation, CANCELLATIONS, row)


def delete(cancellation_id: str) -> Rule[bool]:
    """Delete a cancellation and its job (a batch in flight finds it gone and stops)."""
    deleted = yield fetch("DELETE FROM cancellations WHERE id = ? RETURNING id", cancellation_id)
    yield execute(
        "DELETE FROM work_items WHERE unique_key = ? AND lease_token IS NULL",
        job_key(cancellation_id),
    )
    return bool(deleted)


def batch(
    cancellation_id: str, *, after: str, limit: int
) -> Rule[tuple[Cancellation | None, list[tuple[str, dict[str, Any]]]]]:
    """The cancellation, and its next `limit` running runs after run id `after`, each with
    its trigger event; no runs when the cancellation was deleted."""
    cancellation = yield from get(cancellation_id)
    if cancellation is None:
        return None, []
    rows = yield fetch(
        _RUNS,
        cancellation.function_id,
        RunStatus.RUNNING.value,
        cancellation.started_after,
        cancellation.started_before,
        after,
        limit,
    )
    return cancellation, [(run_id, codec.loads(p) if p else {}) for run_id, p in rows]


def progress(item: WorkItem, *, cancelled: int, after: str | None, at: int) -> Rule[None]:
    """Record a batch of the job of leased `item`: `cancelled` more runs, and the run id it
    reached (`None`: it is done). `StaleLease` if the item's lease passed on."""
    cancellation_id = item.payload["cancellation"]

    def lost() -> StaleLease:
        return StaleLease(f"work item {item.id} is no longer leased with this token")

    yield execute(
        "UPDATE cancellations SET cancelled = cancelled + ? WHERE id = ?",
        cancelled,
        cancellation_id,
    )
    if after is None:
        yield (
            execute(
                "UPDATE cancellations SET done_at = ? WHERE id = ? AND done_at IS NULL",
                at,
                cancellation_id,
            ),
            Expect(
                execute(
                    "DELETE FROM work_items WHERE id = ? AND lease_token = ?",
                    item.id,
                    item.lease_token,
                ),
                1,
                lost,
            ),
        )
        return
    payload = codec.dumps_str({"cancellation": cancellation_id, "after": after})
    yield (
        Expect(
            execute(
                "UPDATE work_items SET payload = ?, due_at = ?, lease_token = NULL"
                " WHERE id = ? AND lease_token = ?",
                payload,
                at,
                item.id,
                item.lease_token,
            ),
            1,
            lost,
        ),
        WAKE,
    )
