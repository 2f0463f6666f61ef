"""What the queue holds, cluster-wide, for the metrics one node exports: due work by kind,
and each function's flow-control backlog with the age of its oldest item."""

from __future__ import annotations

from ..records import QueueStats
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
