"""Row ⇄ record conversion shared by the SQLite and PostgreSQL backends, and their column lists."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from surge.core import codec

from .records import (
    DISCOVERY,
    AppRecord,
    EventRecord,
    FunctionRecord,
    HistoryEntry,
    Memo,
    NewWorkItem,
    RunRecord,
    RunStatus,
    WorkItem,
    WorkKind,
)

T = TypeVar("T")

CHUNK = 500
"""Most values bound in one ``IN (...)`` list."""

Row = tuple[Any, ...]

RUN_COLUMNS = (
    "r.id, r.function_id, r.status, r.event_ids, r.started_at, r.ended_at, r.output, r.error,"
    " r.cron, r.request_version, r.force_step_plan, e.source_run_id"
)
RUN_FROM = "runs r LEFT JOIN events e ON e.internal_id = r.first_event_id"
EVENT_COLUMNS = "internal_id, id, name, payload, ts, received_at, source_run_id"
ITEM_COLUMNS = "id, kind, run_id, step_id, attempt, priority, due_at, payload, unique_key"
APP_COLUMNS = "id, url, sdk, framework, checksum, synced_at, config"
FUNCTION_COLUMNS = "id, app_id, name, config, url"
HISTORY_COLUMNS = "run_id, at, kind, step_id, attempt, detail"

INSERT_ITEM = (
    "INSERT INTO work_items"
    " (kind, run_id, step_id, attempt, priority, due_at, payload, unique_key)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (unique_key) DO NOTHING"
)
INSERT_HISTORY = (
    "INSERT INTO history (run_id, at, kind, step_id, attempt, detail) VALUES (?, ?, ?, ?, ?, ?)"
)


def now_ms() -> int:
    """The wall clock in epoch milliseconds."""
    return int(time.time() * 1000)


def chunks(values: Sequence[T]) -> Iterator[Sequence[T]]:
    """`values` cut into slices small enough for one ``IN (...)`` list."""
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def marks(count: int) -> str:
    """``?, ?, ?`` with `count` placeholders."""
    return ", ".join("?" * count)


def _json(text: str | bytes | None) -> Any:
    return None if text is None else codec.loads(text)


def json_or_null(value: Any) -> str | None:
    """`value` as JSON text, or SQL NULL for `None`."""
    return None if value is None else codec.dumps_str(value)


def run_from_row(row: Row) -> RunRecord:
    """A `RunRecord` from a row selected with `RUN_COLUMNS` from `RUN_FROM`."""
    return RunRecord(
        id=row[0],
        function_id=row[1],
        status=RunStatus(row[2]),
        event_ids=codec.loads(row[3]),
        started_at=row[4],
        ended_at=row[5],
        output=_json(row[6]),
        error=_json(row[7]),
        cron=row[8],
        request_version=row[9],
        force_step_plan=bool(row[10]),
        parent_run_id=row[11],
    )


def event_from_row(row: Row) -> EventRecord:
    """An `EventRecord` from a row selected with `EVENT_COLUMNS`."""
    return EventRecord(
        internal_id=row[0],
        id=row[1],
        name=row[2],
        payload=codec.loads(row[3]),
        ts=row[4],
        received_at=row[5],
        source_run_id=row[6],
    )


def event_to_row(event: EventRecord) -> Row:
    """The values for ``INSERT INTO events (EVENT_COLUMNS)``."""
    return (
        event.internal_id,
        event.id,
        event.name,
        codec.dumps_str(event.payload),
        event.ts,
        event.received_at,
        event.source_run_id,
    )


def item_from_row(row: Row, *, lease_token: str) -> WorkItem:
    """A leased `WorkItem` from a row selected with `ITEM_COLUMNS`."""
    return WorkItem(
        id=row[0],
        kind=WorkKind(row[1]),
        run_id=row[2],
        step_id=row[3],
        attempt=row[4],
        priority=row[5],
        due_at=row[6],
        payload=codec.loads(row[7]),
        unique_key=row[8],
        lease_token=lease_token,
    )


def item_to_row(item: NewWorkItem) -> Row:
    """The values for `INSERT_ITEM`."""
    return (
        item.kind.value,
        item.run_id,
        item.step_id,
        item.attempt,
        item.priority,
        item.due_at,
        codec.dumps_str(item.payload),
        item.unique_key,
    )


def discovery_row(run_id: str, due_at: int) -> Row:
    """The values for `INSERT_ITEM` of a run's discovery call; at most one can be queued."""
    return (WorkKind.CALL.value, run_id, DISCOVERY, 0, 0, due_at, "{}", f"{run_id}:{DISCOVERY}")


def memo_from_row(row: Row) -> Memo:
    """A `Memo` from ``step_id, outcome, name, op, at``."""
    return Memo(step_id=row[0], outcome=codec.loads(row[1]), name=row[2], op=row[3], at=row[4])


def history_to_row(entry: HistoryEntry) -> Row:
    """The values for `INSERT_HISTORY`."""
    return (
        entry.run_id,
        entry.at,
        entry.kind,
        entry.step_id,
        entry.attempt,
        codec.dumps_str(entry.detail),
    )


def history_from_row(row: Row) -> HistoryEntry:
    """A `HistoryEntry` from a row selected with `HISTORY_COLUMNS`."""
    return HistoryEntry(
        run_id=row[0],
        at=row[1],
        kind=row[2],
        step_id=row[3],
        attempt=row[4],
        detail=codec.loads(row[5]),
    )


def app_from_row(row: Row) -> AppRecord:
    """An `AppRecord` from a row selected with `APP_COLUMNS`."""
    return AppRecord(
        id=row[0],
        url=row[1],
        sdk=row[2],
        framework=row[3],
        checksum=row[4],
        synced_at=row[5],
        config=codec.loads(row[6]),
    )


def app_to_row(app: AppRecord) -> Row:
    """The values for ``INSERT INTO apps (APP_COLUMNS)``."""
    return (
        app.id,
        app.url,
        app.sdk,
        app.framework,
        app.checksum,
        app.synced_at,
        codec.dumps_str(app.config),
    )


def function_from_row(row: Row) -> FunctionRecord:
    """A `FunctionRecord` from a row selected with `FUNCTION_COLUMNS`."""
    return FunctionRecord(
        id=row[0], app_id=row[1], name=row[2], config=codec.loads(row[3]), url=row[4]
    )


def function_to_row(fn: FunctionRecord) -> Row:
    """The values for ``INSERT INTO functions (FUNCTION_COLUMNS)``."""
    return (fn.id, fn.app_id, fn.name, codec.dumps_str(fn.config), fn.url)


def list_runs_query(
    mark: str,
    *,
    event_id: str | None,
    function_id: str | None,
    parent_run_id: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[str, tuple[object, ...]]:
    """The SQL and parameters of `Storage.list_runs`, with `mark` as the placeholder.

    Runs come newest first: run ids are ULIDs, so id order is start order.
    """
    sql = f"SELECT {RUN_COLUMNS} FROM {RUN_FROM}"
    params: list[object] = []
    if event_id is not None:
        sql += f" JOIN run_events re ON re.run_id = r.id AND re.event_id = {mark}"
        params.append(event_id)
    sql += _where(
        params,
        (f"r.function_id = {mark}", function_id),
        (f"e.source_run_id = {mark}", parent_run_id),
        (f"r.id < {mark}", cursor),
    )
    return sql + f" ORDER BY r.id DESC LIMIT {mark}", (*params, limit)


def list_events_query(
    mark: str,
    *,
    name: str | None,
    received_after: int | None,
    received_before: int | None,
    limit: int,
    cursor: str | None,
) -> tuple[str, tuple[object, ...]]:
    """The SQL and parameters of `Storage.list_events`, with `mark` as the placeholder.

    Events come newest first; `received_after` is inclusive and `received_before` exclusive.
    """
    params: list[object] = []
    sql = f"SELECT {EVENT_COLUMNS} FROM events" + _where(
        params,
        (f"name = {mark}", name),
        (f"received_at >= {mark}", received_after),
        (f"received_at < {mark}", received_before),
        (f"internal_id < {mark}", cursor),
    )
    return sql + f" ORDER BY internal_id DESC LIMIT {mark}", (*params, limit)


def _where(params: list[object], *filters: tuple[str, object | None]) -> str:
    """A WHERE clause of the filters whose value is set; their values go onto `params`."""
    clauses = []
    for clause, value in filters:
        if value is not None:
            clauses.append(clause)
            params.append(value)
    return " WHERE " + " AND ".join(clauses) if clauses else ""
