"""Pauses: runs waiting for an event (`step.waitForEvent`, `step.invoke`, `cancelOn`).

A pause is a row, not a task: a waiting run costs nothing until an event of its name
arrives. Ingest stores a `MATCH` work item, in the same transaction, for the new events whose
name some pause waits for (`match_item`); handling it reads each event's candidates through
the index (`candidates`: its match keys, and the unindexed pauses of its name), and resumes
(`resume`) or cancels the runs whose pause the engine finds matching. Deleting the pause is
the claim: whichever comes first of a match, a second match and the pause's timeout (a wake
item that memoizes its outcome) takes it, under the run's lock; the others find it gone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from surge.core import codec
from surge.core.matching import match_key, value_at

from ..records import (
    DISCOVERY,
    EventRecord,
    HistoryEntry,
    NewWorkItem,
    Pause,
    PauseKind,
    WorkKind,
    step_key,
)
from ..statements import WAKE, InsertRows, LockRows, Rule, Statement, execute, fetch
from ..tables import EVENTS, HISTORY, PAUSE_PATHS, PAUSES, WORK_ITEMS, record_from

_WAITED_FOR = (
    "SELECT DISTINCT n.event_name FROM pause_paths n WHERE n.event_name {in_texts}"
    " AND EXISTS (SELECT 1 FROM pauses p WHERE p.event_name = n.event_name)"
)
_PAUSE_COLUMNS = (
    "p.id, p.run_id, p.step_id, p.kind, p.event_name, p.expression, p.match_key, p.created_at,"
    " p.expires_at, e.payload"
)
_CANDIDATES = (
    f"SELECT {_PAUSE_COLUMNS} FROM pauses p JOIN runs r ON r.id = p.run_id"
    " LEFT JOIN events e ON e.internal_id = r.first_event_id"
    " WHERE p.event_name = ? AND {match} AND p.created_at <= ?"
    " AND (p.expires_at IS NULL OR p.expires_at > ?)"
)
_BY_KEY = _CANDIDATES.replace("{match}", "p.match_key {in_texts}")
_UNINDEXED = _CANDIDATES.replace("{match}", "p.match_key IS NULL")
_INSERT_MEMO = (
    "INSERT INTO memos (run_id, step_id, seq, name, op, outcome, at) VALUES"
    " (?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM memos WHERE run_id = ?), '', ?, ?, ?)"
    " ON CONFLICT (run_id, step_id) DO NOTHING"
)
_DISCOVER_IF_IDLE = (
    "INSERT INTO work_items (kind, run_id, step_id, attempt, priority, due_at, payload,"
    " unique_key, flow) SELECT ?, ?, ?, 0, 0, ?, '{}', ?, r.flow FROM runs r WHERE r.id = ?"
    " AND NOT EXISTS (SELECT 1 FROM work_items WHERE run_id = ?) ON CONFLICT (unique_key)"
    " DO NOTHING"
)


def store(pauses: Sequence[Pause]) -> list[Statement]:
    """The statements that store `pauses` and list their paths in the index."""
    if not pauses:
        return []
    paths = sorted({(p.event_name, _path_of(p.match_key)) for p in pauses})
    return [
        InsertRows(PAUSES, [PAUSES.row_of(pause) for pause in pauses]),
        InsertRows(PAUSE_PATHS, paths, "ON CONFLICT DO NOTHING"),
    ]


def waited_for(names: Sequence[str]) -> Statement:
    """Which of event `names` some pause waits for (read as rows of one name each)."""
    return fetch(_WAITED_FOR, sorted(set(names)))


def match_item(event_ids: Sequence[str], *, at: int) -> list[Statement]:
    """The statements that queue the matching of new events `event_ids` against pauses."""
    item = NewWorkItem(kind=WorkKind.MATCH, due_at=at, payload={"events": list(event_ids)})
    return [InsertRows(WORK_ITEMS, [WORK_ITEMS.row_of(item)]), WAKE]


def candidates(event_ids: Sequence[str]) -> Rule[list[tuple[EventRecord, list[Pause]]]]:
    """Each event (in arrival order) with the pauses that may match it: those of its name,
    waiting since before it arrived and not expired, under one of its match keys or
    unindexed. Their expressions are not evaluated here."""
    sql = f"SELECT {EVENTS.names()} FROM events WHERE internal_id {{in_texts}}"
    rows = yield fetch(sql, list(event_ids))
    events = sorted((record_from(EventRecord, EVENTS, row) for row in rows), key=_arrival)
    if not events:
        return []
    names = sorted({event.name for event in events})
    paths: dict[str, list[str]] = {}
    sql = "SELECT event_name, path FROM pause_paths WHERE event_name {in_texts}"
    for name, path in (yield fetch(sql, names)):
        paths.setdefault(name, []).append(path)
    queries: list[Statement] = []
    owners: list[int] = []
    for index, event in enumerate(events):
        at = event.received_at
        known = paths.get(event.name, [])
        keys = [
            match_key(path, value)
            for path in known
            if path and (value := value_at(event.payload, path)) is not None
        ]
        if keys:
            queries.append(fetch(_BY_KEY, event.name, keys, at, at))
            owners.append(index)
        if "" in known:
            queries.append(fetch(_UNINDEXED, event.name, at, at))
            owners.append(index)
    found: list[list[Pause]] = [[] for _ in events]
    if queries:
        results = yield tuple(queries)
        for index, result in zip(owners, results, strict=True):
            found[index].extend(_pause_from(row) for row in result)
    for pauses in found:
        pauses.sort(key=lambda p: (p.created_at, p.id))
    return list(zip(events, found, strict=True))


def resume(pause: Pause, *, outcome: Any, at: int, detail: dict[str, Any]) -> Rule[bool]:
    """End `pause` with `outcome` as its step's memo, and go on with its run (a discovery
    call, unless other work of the run is queued); its timeout is dropped. `False`, changing
    nothing, when the pause ended already (matched, timed out, or its run ended)."""
    yield LockRows("runs", "id", (pause.run_id,))
    taken = yield fetch("DELETE FROM pauses WHERE id = ? RETURNING id", pause.id)
    if not taken:
        return False
    run_id, step_id = pause.run_id, pause.step_id
    op = "WaitForEvent" if pause.kind is PauseKind.WAIT else "InvokeFunction"
    entry = HistoryEntry(run_id=run_id, at=at, kind="resumed", step_id=step_id, detail=detail)
    discovery = WorkKind.CALL.value, run_id, DISCOVERY, at, step_key(run_id, DISCOVERY)
    yield (
        execute(_INSERT_MEMO, run_id, step_id, run_id, op, codec.dumps_str(outcome), at),
        execute(
            "DELETE FROM work_items WHERE unique_key = ? AND kind = ? AND lease_token IS NULL",
            step_key(run_id, step_id),
            WorkKind.WAKE.value,
        ),
        InsertRows(HISTORY, [HISTORY.row_of(entry)]),
        execute(_DISCOVER_IF_IDLE, *discovery, run_id, run_id),
        WAKE,
    )
    return True


def _path_of(key: str | None) -> str:
    return "" if key is None else key.split("=", 1)[0]


def _arrival(event: EventRecord) -> tuple[int, str]:
    return event.received_at, event.internal_id


def _pause_from(row: tuple[Any, ...]) -> Pause:
    return Pause(
        id=row[0],
        run_id=row[1],
        step_id=row[2],
        kind=PauseKind(row[3]),
        event_name=row[4],
        expression=row[5],
        match_key=row[6],
        created_at=row[7],
        expires_at=row[8],
        trigger=codec.loads(row[9]) if row[9] is not None else {},
    )
