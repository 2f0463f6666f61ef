"""Counts over many rows: what the queue holds, cluster-wide, for the metrics one node exports
(due work by kind, and each function's flow-control backlog with the age of its oldest item);
and a function's runs per span of time by status, for the dashboard's chart."""

from __future__ import annotations

from surge.core.ids import ulid_floor

from ..records import QueueStats, RunStatus
from ..statements import Rule, fetch
from .slots import PARKED

_DUE = (
    "SELECT kind, COUNT(*) FROM work_items WHERE due_at <= ? AND lease_token IS NULL GROUP BY kind"
)
# Calls parked on a full concurrency key, by the time they fell due.
_PARKED = (
    "SELECT r.function_id, COUNT(*), MIN(w.fell_due_at) FROM work_items w"
    " JOIN runs r ON r.id = w.run_id WHERE w.parked_on IS NOT NULL GROUP BY r.function_id"
)
# First calls a throttle made due later, by their run's start.
_THROTTLED = (
    "SELECT r.function_id, COUNT(*), MIN(r.started_at) FROM work_items w"
    " JOIN runs r ON r.id = w.run_id WHERE w.kind = 'call' AND w.due_at > ? AND w.due_at < ?"
    " AND w.lease_token IS NULL AND r.delayed_by = 'throttle' GROUP BY r.function_id"
)
_GATHERED = "SELECT function_id, COUNT(*), MIN(opened_at) FROM gathers GROUP BY function_id"


def queue_stats(now: int) -> Rule[QueueStats]:
    due, parked, throttled, gathered = yield (
        fetch(_DUE, now),
        fetch(_PARKED),
        fetch(_THROTTLED, now, PARKED),
        fetch(_GATHERED),
    )
    backlog = {
        (function_id, reason): (int(count), int(oldest))
        for reason, rows in (
            ("concurrency", parked),
            ("throttle", throttled),
            ("batch_or_debounce", gathered),
        )
        for function_id, count, oldest in rows
    }
    return QueueStats(due={kind: int(n) for kind, n in due}, backlog=backlog)


# Run ids are ULIDs minted at the run's start: the window is the range of runs_function
# (function_id, id) from (function, first id) to (function, last id), and only the rows in it
# are read. Written as row comparisons, not "function_id = ? AND id >= ? AND id < ?": with
# those, PostgreSQL's generic plan (statements are prepared) ranges over the primary key,
# reading every function's runs in the window.
_RUN_COUNTS = (
    "SELECT (started_at - ?) / ? AS bucket, status, COUNT(*) FROM runs"
    " WHERE (function_id, id) >= (?, ?) AND (function_id, id) < (?, ?) GROUP BY bucket, status"
)


def run_counts(
    function_id: str, *, start: int, bucket_ms: int, buckets: int
) -> Rule[dict[tuple[int, RunStatus], int]]:
    """How many runs of `function_id` started in each of `buckets` spans of `bucket_ms` from
    `start`, by status: counts by (bucket index, status), the empty ones left out."""
    end = start + bucket_ms * buckets
    first, last = (function_id, ulid_floor(start)), (function_id, ulid_floor(end))
    rows = yield fetch(_RUN_COUNTS, start, bucket_ms, *first, *last)
    return {
        (int(bucket), RunStatus(status)): int(count)
        for bucket, status, count in rows
        if 0 <= bucket < buckets
    }
