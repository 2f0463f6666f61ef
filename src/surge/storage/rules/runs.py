"""Runs: queries, a run's state and history, and cancellation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from surge.core import codec
from surge.core.errors import NotFound
from surge.core.ids import ulid_floor

from ..records import (
    DISCOVERY,
    RUN_ENDED,
    HistoryEntry,
    IngestEntry,
    Memo,
    NewRun,
    RunQuery,
    RunRecord,
    RunState,
    RunStatus,
    Waiting,
    WorkKind,
)
from ..statements import (
    FetchEach,
    InsertRows,
    LockRows,
    Note,
    Rule,
    Serialize,
    execute,
    fetch,
    fetch_one,
)
from ..tables import (
    HISTORY,
    MEMO_COLUMNS,
    RUN_COLUMNS,
    RUN_FROM,
    json_or_null,
    memo_from,
    record_from,
    run_from,
)
from . import pauses, slots
from .events import flow_keys, ingest, start_runs, where

_RUN = f"SELECT {RUN_COLUMNS} FROM {RUN_FROM} WHERE r.id = ?"
# The run with the payload of its first event (joined already, for the run's parent).
_RUN_STATE = f"SELECT {RUN_COLUMNS}, e.payload FROM {RUN_FROM} WHERE r.id = ?"
_MEMOS = f"SELECT {MEMO_COLUMNS} FROM memos WHERE run_id = ? ORDER BY seq"
_EVENTS = "SELECT internal_id, payload FROM events WHERE internal_id {in_texts}"


def get_run(run_id: str) -> Rule[RunRecord]:
    """The run `run_id`, with its parent filled in. Raises `NotFound`."""
    row = yield fetch_one(_RUN, run_id)
    if row is None:
        raise NotFound(f"no run {run_id!r}")
    return run_from(row)


_WAITING = (
    "SELECT w.parked_on, w.due_at, w.fell_due_at, w.lease_token, w.step_id, r.delayed_by,"
    " (SELECT COUNT(*) FROM memos m WHERE m.run_id = r.id)"
    " FROM work_items w JOIN runs r ON r.id = w.run_id WHERE w.run_id = ? AND w.kind = ?"
)


def run_waiting(run_id: str, *, now: int) -> Rule[Waiting | None]:
    """Why the run's next call waits at `now`: before its first step, the throttle or
    priority that made it due later, while that lasts; else a full concurrency key; `None`
    when nothing holds it back."""
    rows = yield fetch(_WAITING, run_id, WorkKind.CALL.value)
    for parked_on, due_at, fell_due_at, token, step_id, delayed_by, memos in rows:
        if delayed_by and token is None and step_id == DISCOVERY and memos == 0:
            due = fell_due_at if parked_on is not None else due_at
            if due is not None and due > now:
                return Waiting(delayed_by, due)
    if any(row[0] is not None for row in rows):
        return Waiting("concurrency")
    return None


def list_runs(query: RunQuery) -> Rule[list[RunRecord]]:
    """The runs `query` selects, newest first (ids are ULIDs: id order is start order)."""
    order = "ASC" if query.oldest_first else "DESC"
    params: list[object] = []
    if query.event_id is None and query.parent_run_id is None:
        # The page's ids from runs alone (an index walk, even over several functions or
        # statuses), then its rows with their events: the join is paid for the page only.
        ids = f"SELECT r.id FROM runs r{_filters(query, params)} ORDER BY r.id {order} LIMIT ?"
        sql = f"SELECT {RUN_COLUMNS} FROM {RUN_FROM} WHERE r.id IN ({ids}) ORDER BY r.id {order}"
        rows = yield fetch(sql, *params, query.limit)
        return [run_from(row) for row in rows]
    sql = f"SELECT {RUN_COLUMNS} FROM {RUN_FROM}"
    if query.event_id is not None:
        sql += " JOIN run_events re ON re.run_id = r.id AND re.event_id = ?"
        params.append(query.event_id)
    sql += _filters(query, params)
    rows = yield fetch(sql + f" ORDER BY r.id {order} LIMIT ?", *params, query.limit)
    return [run_from(row) for row in rows]


_KEEP_MEMO = (
    "INSERT INTO memos (run_id, step_id, seq, name, op, outcome, at) VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def rerun(
    run: NewRun,
    *,
    by: str,
    memos: Sequence[Memo] = (),
    step_input: dict[str, list[Any]] | None = None,
) -> Rule[None]:
    """Start `run`, a rerun of another with its events, with `memos` (the original's, up to
    the step it reruns from) already in its stack (`start_reruns`), and `step_input` (the
    edited input of the step it reruns from) if given."""
    yield from start_reruns([run], by=by)
    if step_input:
        sql = "UPDATE runs SET step_input = ? WHERE id = ?"
        yield execute(sql, codec.dumps_str(step_input), run.id)
    kept = [
        execute(_KEEP_MEMO, run.id, m.step_id, seq, m.name, m.op, codec.dumps_str(m.outcome), m.at)
        for seq, m in enumerate(memos, 1)
    ]
    if kept:
        yield tuple(kept)


def start_reruns(reruns: Sequence[NewRun], *, by: str) -> Rule[None]:
    """Start `reruns`, each a rerun of another run with its events, under the locks of their
    keys and of their pauses' event names, as an ingest starts runs (`events.start_runs`).
    Each original's history and its rerun's say so, who asked (`by`) and, for a bulk
    replay, which one (`NewRun.replay_id`)."""
    names = pauses.name_locks(waited=(p.event_name for run in reruns for p in run.pauses))
    keys = {key for run in reruns for key in run.lock_keys}
    locks = {*names.keys, *slots.lock_ids(keys)}
    if locks:
        yield Serialize(tuple(sorted(locks)), names.shared)
    yield from start_runs(reruns)
    entries: list[HistoryEntry] = []
    for run in reruns:
        original, at = run.original_run_id or "", run.started_at
        detail: dict[str, Any] = {"by": by}
        if run.replay_id is not None:
            detail["replay_id"] = run.replay_id
        entries += [
            HistoryEntry(run_id=original, at=at, kind="rerun", detail={"run_id": run.id, **detail}),
            HistoryEntry(
                run_id=run.id, at=at, kind="rerun_of", detail={"run_id": original, **detail}
            ),
        ]
    yield InsertRows(HISTORY, [HISTORY.row_of(entry) for entry in entries])


def event_payloads(event_ids: Sequence[str]) -> Rule[dict[str, Any]]:
    """The payloads of the events with these internal ids (those that exist), by id."""
    if not event_ids:
        return {}
    rows = yield fetch(_EVENTS, list(event_ids))
    return {internal_id: codec.loads(payload) for internal_id, payload in rows}


def count_runs(query: RunQuery, *, cap: int) -> Rule[int]:
    """How many runs `query` selects, its page size and cursor aside; counting stops at
    `cap` (a count is a scan)."""
    params: list[object] = []
    # The trigger's event is joined only to filter by the parent: without it, an index-only
    # count.
    sql = f"SELECT 1 FROM {RUN_FROM}" if query.parent_run_id is not None else "SELECT 1 FROM runs r"
    if query.event_id is not None:
        sql += " JOIN run_events re ON re.run_id = r.id AND re.event_id = ?"
        params.append(query.event_id)
    sql += _filters(replace(query, cursor=None), params)
    row = yield fetch_one(f"SELECT COUNT(*) FROM ({sql} LIMIT ?) AS c", *params, cap)
    return int(row[0]) if row is not None else 0


def _filters(query: RunQuery, params: list[object]) -> str:
    # Run ids are ULIDs: a time bound on the start is a bound on the id.
    statuses = None if query.statuses is None else [s.value for s in query.statuses]
    functions = None if query.function_ids is None else list(query.function_ids)
    # One value is bound with "=": an ordered range of runs_function_status on both
    # databases (a list parameter is not, and PostgreSQL's generic plan would scan).
    one_function = functions[0] if functions and len(functions) == 1 else None
    one_status = statuses[0] if statuses and len(statuses) == 1 else None
    return where(
        params,
        ("r.function_id = ?", query.function_id),
        ("r.function_id = ?", one_function),
        ("r.function_id {in_texts}", None if one_function else functions),
        ("r.status = ?", one_status),
        ("r.status {in_texts}", None if one_status else statuses),
        ("e.source_run_id = ?", query.parent_run_id),
        ("r.original_run_id = ?", query.original_run_id),
        ("r.id >= ?", None if query.started_from is None else ulid_floor(query.started_from)),
        ("r.id < ?", None if query.started_until is None else ulid_floor(query.started_until)),
        ("r.ended_at >= ?", query.ended_from),
        ("r.ended_at < ?", query.ended_until),
        ("r.id > ?" if query.oldest_first else "r.id < ?", query.cursor),
    )


def load_run_state(run_id: str) -> Rule[RunState]:
    """The run, its events' payloads in `event_ids` order, and its memos in stack order.

    The run (with its first event) and its memos are read together: one round trip on
    PostgreSQL, and a second only for a run started by several events (a batch). Memos only
    ever grow, so a memo committed between the reads is harmless: the run is called with one
    more step done.
    """
    run_row, memo_rows = yield (fetch_one(_RUN_STATE, run_id), fetch(_MEMOS, run_id))
    if run_row is None:
        raise NotFound(f"no run {run_id!r}")
    return (yield from _states([run_row], {run_id: memo_rows}))[run_id]


def load_run_states(run_ids: Sequence[str]) -> Rule[dict[str, RunState]]:
    """`load_run_state` of each of `run_ids` at once, in two statements (three when one was
    started by several events); a run not found is left out. Each run's memos come in stack
    order: a key's rows keep the order its query gives them."""
    if not run_ids:
        return {}
    ids = list(run_ids)
    run_rows, memo_rows = yield (FetchEach(_RUN_STATE, ids), FetchEach(_MEMOS, ids))
    memos: dict[str, list[Any]] = {}
    for row in memo_rows:
        memos.setdefault(row[0], []).append(row[1:])
    return (yield from _states([row[1:] for row in run_rows], memos))


def _states(run_rows: Sequence[Any], memo_rows: dict[str, Any]) -> Rule[dict[str, RunState]]:
    """The `RunState`s of `run_rows` (`_RUN_STATE`'s rows: the payload of the run's first
    event last) with their memos (`memo_rows`: each run's `_MEMOS` rows, in stack order),
    reading the payloads of the other events of runs started by several (batches)."""
    runs = [(run_from(row), row[-1]) for row in run_rows]
    payloads: dict[str, str] = {}
    for run, first_payload in runs:
        if run.event_ids and first_payload is not None:
            payloads[run.event_ids[0]] = first_payload
    others = [i for run, _ in runs for i in run.event_ids if i not in payloads]
    if others:
        payloads.update((yield fetch(_EVENTS, others)))
    return {
        run.id: RunState(
            run=run,
            events=[codec.loads(payloads[i]) for i in run.event_ids if i in payloads],
            memos=[memo_from(row) for row in memo_rows.get(run.id, ())],
        )
        for run, _ in runs
    }


def run_history(run_id: str) -> Rule[list[HistoryEntry]]:
    """The run's history in the order it was written."""
    sql = f"SELECT {HISTORY.names()} FROM history WHERE run_id = ? ORDER BY id"
    rows = yield fetch(sql, run_id)
    return [record_from(HistoryEntry, HISTORY, row) for row in rows]


def first_call(run_id: str) -> Rule[HistoryEntry | None]:
    """The first line of the run's history that names a step: its first call's (none: no call
    has ended yet)."""
    sql = (
        f"SELECT {HISTORY.names()} FROM history WHERE run_id = ? AND step_id IS NOT NULL"
        " ORDER BY id LIMIT 1"
    )
    row = yield fetch_one(sql, run_id)
    return None if row is None else record_from(HistoryEntry, HISTORY, row)


def cancel_run(
    run_id: str,
    *,
    at: int,
    events: Sequence[IngestEntry],
    registry_version: int | None,
    detail: dict[str, Any] | None = None,
    error: Any = None,
) -> Rule[RunRecord]:
    """Cancel a running run in one transaction: its status, its history, its queued work and
    its pauses dropped, and `events` (its ``inngest/function.cancelled``...) stored. A call in
    flight keeps its lease: its commit keeps the step's result and queues nothing after it
    (`commit`). An ended run is returned unchanged, and nothing is stored.
    """
    yield LockRows("runs", "id", (run_id,))
    run = yield from get_run(run_id)
    if run.status.is_final:
        return run
    cancelled = RunStatus.CANCELLED.value
    yield execute(
        "UPDATE runs SET status = ?, ended_at = ?, error = ? WHERE id = ?",
        cancelled,
        at,
        json_or_null(error),
        run_id,
    )
    yield from slots.release_run(run_id, also_lock=flow_keys(events))
    yield (
        execute("DELETE FROM work_items WHERE run_id = ? AND lease_token IS NULL", run_id),
        execute("DELETE FROM pauses WHERE run_id = ?", run_id),
    )
    entry = HistoryEntry(run_id=run_id, at=at, kind="cancelled", detail=detail or {})
    yield (
        InsertRows(HISTORY, [HISTORY.row_of(entry)]),
        Note(RUN_ENDED, (run.function_id, cancelled), subject=run_id),
    )
    yield from ingest(events, registry_version=registry_version)
    return replace(run, status=RunStatus.CANCELLED, ended_at=at, error=error)


_FIRST_COMMIT = "SELECT MIN(at) FROM history WHERE run_id = ?"
_IN_FLIGHT = "SELECT 1 FROM work_items WHERE run_id = ? AND kind = ? AND lease_token IS NOT NULL"


def run_began_at(run_id: str, *, now: int) -> Rule[int | None]:
    """When the run's app was first called, as near as the store knows: its first commit, or
    `now` while its first call is in flight; `None` if it was not called yet."""
    first, in_flight = yield (
        fetch_one(_FIRST_COMMIT, run_id),
        fetch_one(_IN_FLIGHT, run_id, WorkKind.CALL.value),
    )
    if first is not None and first[0] is not None:
        return int(first[0])
    return now if in_flight is not None else None
