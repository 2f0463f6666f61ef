"""Pauses: runs waiting for an event (`step.waitForEvent`, `step.invoke`, `cancelOn`).

A pause is a row, not a task: a waiting run costs nothing until an event of its name
arrives. Ingest stores a `MATCH` work item, in the same transaction, for the new events whose
name some pause waits for (`match_item`); handling it reads each event's candidates through
the index (`candidates`: its match keys, and the unindexed pauses of its name), and resumes
(`resume`) or cancels the runs whose pause the engine finds matching. Deleting the pause is
the claim: whichever comes first of a match, a second match and the pause's timeout (a wake
item that memoizes its outcome) takes it, under the run's lock; the others find it gone.

An event arriving while a pause of its name is being stored must not slip between them: the
event's transaction reads the index under a shared lock on its name, the pause's stores it
under the exclusive one (`name_locks`), then queues the matching of the events of its name
that arrived since it began (`store`). Whichever commits second sees the other. (SQLite runs
one transaction at a time: there, the second alone does.)
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from typing import Any

from surge.core import codec
from surge.core.matching import match_key, value_at

from ..records import (
    DISCOVERY,
    URGENT,
    EventRecord,
    HistoryEntry,
    NewWorkItem,
    Pause,
    PauseKind,
    WorkKind,
    step_key,
)
from ..statements import (
    WAKE,
    InsertRows,
    LockRows,
    Rule,
    Serialize,
    Statement,
    WakeIf,
    execute,
    fetch,
)
from ..tables import EVENTS, HISTORY, PAUSE_PATHS, PAUSES, WORK_ITEMS, record_from
from .queue import IDLE

# The paths of names no pause waits for any more stay listed: their keys find no pause.
_PATHS = "SELECT event_name, path FROM pause_paths WHERE event_name {in_texts}"
# A match key names its path and a hash of the value: selective without the event name.
_KEYS_WAITED = "SELECT DISTINCT match_key FROM pauses WHERE match_key {in_texts}"
_UNINDEXED_WAITED = (
    "SELECT DISTINCT event_name FROM pauses WHERE event_name {in_texts} AND match_key IS NULL"
)
_NAMES_WAITED = (
    "SELECT 1 FROM pause_paths n WHERE n.event_name {in_texts}"
    " AND EXISTS (SELECT 1 FROM pauses p WHERE p.event_name = n.event_name)"
)
_LAZY_MATCH = (
    "INSERT INTO work_items (kind, due_at, payload) SELECT CAST(? AS TEXT), CAST(? AS BIGINT),"
    f" CAST(? AS TEXT) WHERE EXISTS ({_NAMES_WAITED}) RETURNING id"
)
"""Queues the match, returning a row (which wakes the nodes, `WakeIf`) if it did."""
_PAUSE_COLUMNS = (
    "p.id, p.run_id, p.step_id, p.kind, p.event_name, p.expression, p.match_key, p.created_at,"
    " p.expires_at, e.payload"
)
_CANDIDATES = (
    f"SELECT {_PAUSE_COLUMNS} FROM pauses p JOIN runs r ON r.id = p.run_id"
    " LEFT JOIN events e ON e.internal_id = r.first_event_id WHERE "
)
_BY_KEY = _CANDIDATES + "p.match_key {in_texts}"
_UNINDEXED = _CANDIDATES + "p.event_name {in_texts} AND p.match_key IS NULL"
_INSERT_MEMO = (
    "INSERT INTO memos (run_id, step_id, seq, name, op, outcome, at) VALUES"
    " (?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM memos WHERE run_id = ?), '', ?, ?, ?)"
    " ON CONFLICT (run_id, step_id) DO NOTHING"
)
_DISCOVER_IF_IDLE = (
    "INSERT INTO work_items (kind, run_id, step_id, attempt, priority, due_at, payload,"
    " unique_key, flow) SELECT ?, ?, ?, 0, ?, ?, '{}', ?, r.flow FROM runs r WHERE r.id = ?"
    f" AND {IDLE.format(also='')} ON CONFLICT (unique_key) DO NOTHING"
)


_ARRIVED_SINCE = "SELECT internal_id FROM events WHERE name {in_texts} AND received_at >= ?"
_NAME_LOCKS = -(2**31)
"""The first advisory lock id of event names: below every other, so taken before any."""


def name_locks(*, arriving: Iterable[str] = (), waited: Iterable[str] = ()) -> Serialize:
    """The locks of event names that a transaction storing `arriving` events (shared) and
    pauses for `waited` ones (exclusive) takes before reading or writing the index; an
    ingest takes them along with its other locks (`Serialize.keys`), which sort after."""
    exclusive = {_name_lock(name) for name in set(waited)}
    shared = {_name_lock(name) for name in set(arriving)} - exclusive
    return Serialize(tuple(sorted(exclusive | shared)), frozenset(shared))


def store(pauses: Sequence[Pause], *, along: Sequence[Statement] = ()) -> Rule[None]:
    """Store `pauses` (sent `along` with other statements), list their paths in the index,
    and queue the matching of events of their names that arrived since the first began: an
    ingest that read the index a moment before did not see them. The caller holds the
    exclusive `name_locks` of their names."""
    if not pauses:
        if along:
            yield tuple(along)
        return
    paths = sorted({(p.event_name, _path_of(p.match_key)) for p in pauses})
    names = sorted({p.event_name for p in pauses})
    since = min(p.created_at for p in pauses)
    results = yield (
        *along,
        InsertRows(PAUSES, [PAUSES.row_of(pause) for pause in pauses]),
        InsertRows(PAUSE_PATHS, paths, "ON CONFLICT DO NOTHING"),
        fetch(_ARRIVED_SINCE, names, since),
    )
    arrived = sorted(row[0] for row in results[-1])
    if arrived:
        yield tuple(match_item(arrived, at=max(p.created_at for p in pauses)))


Paths = dict[str, set[str]]
"""For each event name pauses wait (or waited) for, the paths of their match keys (``""``:
some have none)."""


def paths_for(names: Sequence[str]) -> Statement:
    """The `Paths` of event `names` (read as ``(name, path)`` rows: `read_paths`)."""
    return fetch(_PATHS, sorted(set(names)))


def read_paths(rows: Sequence[tuple[str, str]]) -> Paths:
    paths: Paths = {}
    for name, path in rows:
        paths.setdefault(name, set()).add(path)
    return paths


def keys_of(payload: dict[str, Any], paths: Iterable[str]) -> list[str]:
    """The match keys of an event with `payload`, one for each indexed path it has."""
    return [
        match_key(path, value)
        for path in paths
        if path and (value := value_at(payload, path)) is not None
    ]


def waited(events: Sequence[EventRecord], paths: Paths) -> Rule[list[str]]:
    """Of new `events`, the ids of those a pause may wait for: of a name with unindexed
    pauses, or with a match key some pause of their name has. Only those are matched."""
    known = [event for event in events if event.name in paths]
    if not known:
        return []
    indexed = {name: [path for path in paths[name] if path] for name in {e.name for e in known}}
    keyed = {e.internal_id: keys_of(e.payload, indexed[e.name]) for e in known}
    keys = sorted({key for event_keys in keyed.values() for key in event_keys})
    unindexed = sorted({e.name for e in known if "" in paths[e.name]})
    if not keys and not unindexed:
        return []
    # Both in one step: an empty list reads nothing.
    hit_keys, hit_names = yield (fetch(_KEYS_WAITED, keys), fetch(_UNINDEXED_WAITED, unindexed))
    hits = {row[0] for row in hit_keys}
    names = {row[0] for row in hit_names}
    return [
        event.internal_id
        for event in known
        if event.name in names or any(key in hits for key in keyed[event.internal_id])
    ]


def match_item(event_ids: Sequence[str], *, at: int) -> list[Statement]:
    """The statements that queue the matching of new events `event_ids` against pauses."""
    item = NewWorkItem(kind=WorkKind.MATCH, due_at=at, payload={"events": list(event_ids)})
    return [InsertRows(WORK_ITEMS, [WORK_ITEMS.row_of(item)]), WAKE]


def lazy_match_item(at: int, events: Sequence[EventRecord]) -> list[Statement]:
    """The statements that queue the matching of `events` if a pause waits for any of their
    names, and then wake the nodes, with no read: no round trip of their own (`match_item`
    reads the index first, to queue only the events a pause may match)."""
    names = sorted({event.name for event in events})
    payload = codec.dumps_str({"events": [event.internal_id for event in events]})
    return [WakeIf(fetch(_LAZY_MATCH, WorkKind.MATCH.value, at, payload, names))]


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
    paths = read_paths((yield fetch(_PATHS, names)))
    keyed = {e.internal_id: keys_of(e.payload, paths.get(e.name, set())) for e in events}
    keys = sorted({key for event_keys in keyed.values() for key in event_keys})
    unindexed = sorted(name for name in names if "" in paths.get(name, ()))
    queries: list[Statement] = []
    if keys:
        queries.append(fetch(_BY_KEY, keys))
    if unindexed:
        queries.append(fetch(_UNINDEXED, unindexed))
    found = [
        _pause_from(row) for result in ((yield tuple(queries)) if queries else ()) for row in result
    ]
    by_key: dict[tuple[str, str | None], list[Pause]] = {}
    for pause in sorted(found, key=lambda p: (p.created_at, p.id)):
        by_key.setdefault((pause.event_name, pause.match_key), []).append(pause)
    matched = []
    for event in events:
        at = event.received_at
        pauses = [
            pause
            for key in (*keyed[event.internal_id], None)
            for pause in by_key.get((event.name, key), ())
            if pause.created_at <= at and (pause.expires_at is None or pause.expires_at > at)
        ]
        pauses.sort(key=lambda p: (p.created_at, p.id))
        matched.append((event, pauses))
    return matched


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
    discovery = WorkKind.CALL.value, run_id, DISCOVERY, URGENT, at, step_key(run_id, DISCOVERY)
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


def _name_lock(name: str) -> int:
    return _NAME_LOCKS + zlib.crc32(name.encode()) % 2**30


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
