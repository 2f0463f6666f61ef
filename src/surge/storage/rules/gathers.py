"""Gathers: debounces and event batches, where events wait before one run starts with them.

While a gather is open no run exists; its row in ``gathers`` holds the events and the run to
start (its limits, gates and priority, as the engine made them from the event: a debounce's
latest, a batch's first). A work item of kind `FLUSH`, keyed by the gather's key, wakes it:

* a debounce keeps the last event; each new one pushes its close to ``period`` after it,
  but never past ``timeout`` after the first;
* a batch keeps every event in arrival order; it closes when ``max_size`` have arrived (in
  the ingest that brings the last one) or ``period`` (its timeout) after the first.

Closes only move later, so the flush item stays where it was first due: on waking, a gather
that is not due yet moves it to its close. Both paths hold the gather key's lock (`slots.lock`),
so each event lands in exactly one gather and each gather starts exactly one run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from surge.core import codec
from surge.core.errors import StaleLease

from ..records import Gate, GateKind, GatherKind, Limit, NewRun, OpenGather, WorkItem, WorkKind
from ..statements import WAKE, Expect, InsertRows, Rule, Statement, execute, fetch, fetch_one
from ..tables import GATHERS, WORK_ITEMS
from . import slots

_SELECT = f"SELECT {GATHERS.names()} FROM gathers"
_SAVE = (
    "ON CONFLICT (key) DO UPDATE SET id = excluded.id, event_ids = excluded.event_ids,"
    " opened_at = excluded.opened_at, closes_at = excluded.closes_at, run = excluded.run"
)
_HELD = "id = ? AND lease_token = ?"


@dataclass
class _Open:
    """A gather as this ingest sees it."""

    key: str
    id: str
    function_id: str
    event_ids: list[str]
    opened_at: int
    closes_at: int
    run: dict[str, Any]
    """The run to start: its limits, gates and priority (`_template`)."""


def collect(runs: Sequence[NewRun]) -> Rule[list[NewRun]]:
    """Add the event of each of `runs` (each with a `gather`) to its open gather, opening it
    if need be; return the runs of the batches that are full now, to start at once."""
    keys = sorted({run.gather.key for run in runs if run.gather is not None})
    rows = yield fetch(f"{_SELECT} WHERE key {{in_texts}}", keys)
    opened: dict[str, _Open] = {row[0]: _open_from(row) for row in rows}
    stored = set(opened)
    full: list[NewRun] = []
    for run in runs:
        gather = run.gather
        assert gather is not None
        now = run.started_at
        current = opened.get(gather.key)
        if current is None:
            current = _Open(gather.key, run.id, run.function_id, [], now, now, _template(run))
            opened[gather.key] = current
        if gather.kind is GatherKind.DEBOUNCE:
            current.event_ids = list(run.event_ids)
            current.run = _template(run)
            close = now + gather.period_ms
            if gather.timeout_ms is not None:
                close = min(close, current.opened_at + gather.timeout_ms)
            current.closes_at = max(current.closes_at, close)
            continue
        current.event_ids += run.event_ids
        current.closes_at = current.opened_at + gather.period_ms
        if len(current.event_ids) >= gather.max_size:
            full.append(_run_of(current, run_id=run.id, at=now))
            del opened[gather.key]
    statements: list[Statement] = []
    gone = sorted(stored - opened.keys())
    if gone:
        statements.append(execute("DELETE FROM gathers WHERE key {in_texts}", gone))
        statements.append(execute("DELETE FROM work_items WHERE unique_key {in_texts}", gone))
    # Every gather still open was just added to (only the runs' own keys were read).
    if opened:
        statements.append(InsertRows(GATHERS, [_row(g) for g in opened.values()], _SAVE))
        flushes = [_flush_row(g) for g in opened.values()]
        statements.append(InsertRows(WORK_ITEMS, flushes, "ON CONFLICT (unique_key) DO NOTHING"))
        statements.append(WAKE)
    if statements:
        yield tuple(statements)
    return full


def close(item: WorkItem, *, now: int, run_id: str) -> Rule[NewRun | None]:
    """Wake the gather of flush `item`: if it is due, delete it and return its run (id
    `run_id`) for the caller to start; if not, move the item to its close. Raises
    `StaleLease`, changing nothing, if the item's lease passed on."""
    key = str(item.payload.get("key"))
    row = yield fetch_one(f"{_SELECT} WHERE key = ?", key)
    if row is not None:
        # The keys the run will count on, with the gather's own, all at once.
        yield slots.lock({key, *_lock_keys(_open_from(row))})
        row = yield fetch_one(f"{_SELECT} WHERE key = ?", key)
    gather = None if row is None else _open_from(row)

    def lost() -> StaleLease:
        return StaleLease(f"flush item {item.id} is no longer leased with this token")

    if gather is not None and gather.closes_at > now:
        sql = f"UPDATE work_items SET due_at = ?, lease_token = NULL WHERE {_HELD}"
        yield Expect(execute(sql, gather.closes_at, item.id, item.lease_token), 1, lost)
        yield WAKE
        return None
    yield Expect(
        execute(f"DELETE FROM work_items WHERE {_HELD}", item.id, item.lease_token), 1, lost
    )
    if gather is None:
        return None  # a full batch closed it already
    yield execute("DELETE FROM gathers WHERE key = ?", key)
    return _run_of(gather, run_id=run_id, at=now)


def pending(event_id: str) -> Rule[list[OpenGather]]:
    """The open debounces and batches event `event_id` waits in."""
    rows = yield fetch(
        "SELECT key, id, function_id, closes_at FROM gathers WHERE event_ids LIKE ?",
        f'%"{event_id}"%',
    )
    return [OpenGather(str(key).split(":", 1)[0], gid, fid, at) for key, gid, fid, at in rows]


def _open_from(row: tuple[object, ...]) -> _Open:
    key, gather_id, function_id, event_ids, opened_at, closes_at, run = row
    return _Open(
        str(key),
        str(gather_id),
        str(function_id),
        list(codec.loads(str(event_ids))),
        int(str(opened_at)),
        int(str(closes_at)),
        dict(codec.loads(str(run))),
    )


def _row(g: _Open) -> tuple[object, ...]:
    events, run = codec.dumps_str(g.event_ids), codec.dumps_str(g.run)
    return (g.key, g.id, g.function_id, events, g.opened_at, g.closes_at, run)


def _flush_row(g: _Open) -> tuple[object, ...]:
    payload = codec.dumps_str({"key": g.key})
    return (WorkKind.FLUSH.value, None, "flush", 0, 0, g.closes_at, payload, g.key, None)


def _template(run: NewRun) -> dict[str, Any]:
    """What a gather keeps of `run` to start its run with."""
    return {
        "concurrency": [[lim.key, lim.limit] for lim in run.concurrency],
        "gates": [[g.kind.value, g.key, g.period_ms, g.limit, g.burst] for g in run.gates],
        "priority_ms": run.priority_ms,
    }


def _lock_keys(g: _Open) -> list[str]:
    limits = [str(key) for key, _ in g.run.get("concurrency", [])]
    return limits + [str(gate[1]) for gate in g.run.get("gates", [])]


def _run_of(g: _Open, *, run_id: str, at: int) -> NewRun:
    run = g.run
    return NewRun(
        id=run_id,
        function_id=g.function_id,
        event_ids=list(g.event_ids),
        started_at=at,
        concurrency=tuple(Limit(str(k), int(n)) for k, n in run.get("concurrency", [])),
        gates=tuple(
            Gate(GateKind(kind), str(key), int(period), int(limit), int(burst))
            for kind, key, period, limit, burst in run.get("gates", [])
        ),
        priority_ms=int(run.get("priority_ms", 0)),
        batch_id=g.id,
    )
