"""Retention: deleting what ended before a cutoff, a batch per transaction.

A batch deletes runs that started and ended before the cutoff (never a running one), with
their history, memos, span metadata, pauses and links to events; then events received before
the cutoff that no run still links to and no open debounce or batch holds (`Pruned.events_after` is
where the next batch goes on); and bulk replays and cancellations that were done before it.
The idempotency and dedupe keys are not here: they live 24 hours in their own rows, and the
cutoff is never less than 24 hours ago (`MIN_RETENTION_MS`).
"""

from __future__ import annotations

from dataclasses import dataclass

from surge.core import codec
from surge.core.ids import ulid_floor

from ..statements import Rule, execute, fetch

MIN_RETENTION_MS = 24 * 3600 * 1000
"""The shortest retention: events must outlive their 24-hour dedupe window."""

_RUNS = (
    "SELECT r.id, r.event_ids FROM runs r WHERE r.id < ? AND r.ended_at < ?"
    " AND NOT EXISTS (SELECT 1 FROM work_items w WHERE w.run_id = r.id)"
    " ORDER BY r.id LIMIT ?"
)
_EVENTS = (
    "SELECT e.received_at, e.internal_id FROM events e"
    " WHERE e.received_at < ? AND (e.received_at > ? OR (e.received_at = ? AND e.internal_id > ?))"
    " AND NOT EXISTS (SELECT 1 FROM run_events re WHERE re.event_id = e.internal_id)"
    " ORDER BY e.received_at, e.internal_id LIMIT ?"
)


@dataclass(frozen=True, slots=True)
class Pruned:
    """What one batch deleted, and where the events' scan goes on (`None`: at its end)."""

    runs: int
    events: int
    events_after: tuple[int, str] | None


def prune(cutoff: int, *, limit: int, events_after: tuple[int, str] = (-1, "")) -> Rule[Pruned]:
    """Delete up to `limit` runs and `limit` events that ended or arrived before `cutoff`
    (events after position `events_after` in arrival order), in one transaction."""
    rows = yield fetch(_RUNS, ulid_floor(cutoff), cutoff, limit)
    run_ids = [run_id for run_id, _ in rows]
    if run_ids:
        event_ids = sorted({e for _, ids in rows for e in codec.loads(ids)})
        yield (
            execute("DELETE FROM history WHERE run_id {in_texts}", run_ids),
            execute("DELETE FROM memos WHERE run_id {in_texts}", run_ids),
            execute("DELETE FROM span_metadata WHERE run_id {in_texts}", run_ids),
            execute("DELETE FROM pauses WHERE run_id {in_texts}", run_ids),
            execute(
                "DELETE FROM run_events WHERE event_id {in_texts} AND run_id {in_texts}",
                event_ids,
                run_ids,
            ),
            execute("DELETE FROM runs WHERE id {in_texts}", run_ids),
        )
    at, after_id = events_after
    candidates, gathers = yield (
        fetch(_EVENTS, cutoff, at, at, after_id, limit),
        fetch("SELECT event_ids FROM gathers"),
    )
    held = {e for (ids,) in gathers for e in codec.loads(ids)}
    doomed = [internal_id for _, internal_id in candidates if internal_id not in held]
    if doomed:
        yield execute("DELETE FROM events WHERE internal_id {in_texts}", doomed)
    if not run_ids and not candidates:  # nothing left before the cutoff: done ones go too
        yield (
            execute("DELETE FROM replays WHERE done_at < ?", cutoff),
            execute("DELETE FROM cancellations WHERE done_at < ?", cutoff),
        )
    position = (candidates[-1][0], candidates[-1][1]) if len(candidates) == limit else None
    return Pruned(runs=len(run_ids), events=len(doomed), events_after=position)
