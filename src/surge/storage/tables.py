"""The tables the rules read and write, and row ⇄ record conversion.

Column lists and types are written here once; the schema itself is the versioned SQL under
`sql/<dialect>/migrations/`, and a test keeps the two dialects' columns alike. JSON values are
stored as text, timestamps as integer milliseconds since the epoch (UTC). A record whose fields
are named as a table's columns converts both ways: `Table.row_of` and `record_from`.
"""

from __future__ import annotations

from typing import Any, TypeVar

from surge.core import codec

from .records import Limit, Memo, NewRun, RunRecord, RunStatus, WorkItem, WorkKind
from .statements import Column, Table

Row = tuple[Any, ...]
R = TypeVar("R")

TEXT, BIGINT, INTEGER, BOOLEAN = "TEXT", "BIGINT", "INTEGER", "BOOLEAN"
JSON = "JSON"
"""Any JSON value, stored as text."""
ENUM = "ENUM"
"""An `enum.Enum`'s value, stored as text."""


def _table(name: str, *columns: str) -> Table:
    """A table from ``"name TYPE"`` column specs."""
    specs = (column.split() for column in columns)
    return Table(name, tuple(Column(column, kind) for column, kind in specs))


APPS = _table(
    "apps",
    "id TEXT",
    "url TEXT",
    "sdk TEXT",
    "framework TEXT",
    "checksum TEXT",
    "synced_at BIGINT",
    "config JSON",
)
FUNCTIONS = _table("functions", "id TEXT", "app_id TEXT", "name TEXT", "config JSON", "url TEXT")
EVENTS = _table(
    "events",
    "internal_id TEXT",
    "id TEXT",
    "name TEXT",
    "payload JSON",
    "ts BIGINT",
    "received_at BIGINT",
    "source_run_id TEXT",
)
NEW_RUNS = _table(
    "runs",
    "id TEXT",
    "function_id TEXT",
    "status TEXT",
    "event_ids JSON",
    "first_event_id TEXT",
    "started_at BIGINT",
    "cron TEXT",
    "flow JSON",
    "skip_reason TEXT",
    "queued_at BIGINT",
    "ended_at BIGINT",
    "batch_id TEXT",
    "delayed_by TEXT",
    "singleton_key TEXT",
    "lingering INTEGER",
    "original_run_id TEXT",
    "replay_id TEXT",
)
RUN_EVENTS = _table("run_events", "event_id TEXT", "run_id TEXT")
FLOW_STATE = _table("flow_state", "key TEXT", "until_us BIGINT")
GATHERS = _table(
    "gathers",
    "key TEXT",
    "id TEXT",
    "function_id TEXT",
    "event_ids JSON",
    "opened_at BIGINT",
    "closes_at BIGINT",
    "run JSON",
)
PAUSES = _table(
    "pauses",
    "id TEXT",
    "run_id TEXT",
    "step_id TEXT",
    "kind ENUM",
    "event_name TEXT",
    "expression TEXT",
    "match_key TEXT",
    "created_at BIGINT",
    "expires_at BIGINT",
)
CANCELLATIONS = _table(
    "cancellations",
    "id TEXT",
    "app_id TEXT",
    "function_id TEXT",
    "started_after BIGINT",
    "started_before BIGINT",
    "expression TEXT",
    "created_at BIGINT",
    "cancelled BIGINT",
    "done_at BIGINT",
    "requested_by TEXT",
)
SUSPENSIONS = _table("suspensions", "function_id TEXT", "suspended_at BIGINT", "suspended_by TEXT")
REPLAYS = _table(
    "replays",
    "id TEXT",
    "app_id TEXT",
    "function_id TEXT",
    "started_after BIGINT",
    "started_before BIGINT",
    "statuses JSON",
    "created_at BIGINT",
    "requested_by TEXT",
    "total BIGINT",
    "started BIGINT",
    "done_at BIGINT",
)
PAUSE_PATHS = _table("pause_paths", "event_name TEXT", "path TEXT")
HISTORY = _table(
    "history",
    "run_id TEXT",
    "at BIGINT",
    "kind TEXT",
    "step_id TEXT",
    "attempt INTEGER",
    "detail JSON",
)
WORK_ITEMS = _table(
    "work_items",
    "kind ENUM",
    "run_id TEXT",
    "step_id TEXT",
    "attempt INTEGER",
    "priority INTEGER",
    "due_at BIGINT",
    "payload JSON",
    "unique_key TEXT",
    "flow TEXT",
)

PARKED_ITEMS = Table(
    "work_items",
    (*WORK_ITEMS.columns, Column("parked_on", TEXT), Column("fell_due_at", BIGINT)),
)
"""Work items queued parked on a concurrency key (`rules/slots.py`)."""

RUN_COLUMNS = (
    "r.id, r.function_id, r.status, r.event_ids, r.started_at, r.ended_at, r.output, r.error,"
    " r.cron, r.request_version, r.force_step_plan, e.source_run_id, r.skip_reason,"
    " r.batch_id, r.lingering, r.original_run_id, r.replay_id, r.step_input"
)
RUN_FROM = "runs r LEFT JOIN events e ON e.internal_id = r.first_event_id"
"""Runs with the event that started them, whose `source_run_id` is the run's parent."""
LEASED_ITEM_COLUMNS = (
    "id, kind, run_id, step_id, attempt, priority, fell_due_at, payload, unique_key, lease_token,"
    " slot1, slot2, flow"
)
MEMO_COLUMNS = "step_id, outcome, name, op, at"


def json_or_null(value: Any) -> str | None:
    """`value` as JSON text, or SQL NULL for `None`."""
    return None if value is None else codec.dumps_str(value)


def _json(text: str | None) -> Any:
    return None if text is None else codec.loads(text)


def record_from(cls: type[R], table: Table, row: Row) -> R:
    """A `cls` from a row selected as `table.names()`, its JSON columns decoded."""
    values = {
        column.name: codec.loads(value) if column.type == JSON else value
        for column, value in zip(table.columns, row, strict=True)
    }
    return cls(**values)


def run_from(row: Row) -> RunRecord:
    """A `RunRecord` from `RUN_COLUMNS`."""
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
        skip_reason=row[12],
        batch_id=row[13],
        lingering=bool(row[14]),
        original_run_id=row[15],
        replay_id=row[16],
        step_input=_json(row[17]),
    )


def leased_item_from(row: Row) -> WorkItem:
    """A leased `WorkItem` from `LEASED_ITEM_COLUMNS`."""
    item_id, kind, run_id, step_id, attempt, priority, due_at, payload, key, token = row[:10]
    slot1, slot2, flow = row[10:]
    return WorkItem(
        id=item_id,
        kind=WorkKind(kind),
        run_id=run_id,
        step_id=step_id,
        attempt=attempt,
        priority=priority,
        due_at=due_at,
        payload=codec.loads(payload),
        unique_key=key,
        lease_token=token,
        flow=flow,
        limits=limits_of(flow),
        slots=tuple(slot for slot in (slot1, slot2) if slot is not None),
    )


def flow_json(run: NewRun) -> str | None:
    """A new run's flow control as stored (``{"concurrency": [[key, limit], ...]}``), or NULL
    when it has none."""
    if not run.concurrency:
        return None
    return codec.dumps_str({"concurrency": [[lim.key, lim.limit] for lim in run.concurrency]})


def limits_of(flow: str | None) -> tuple[Limit, ...]:
    """The concurrency limits in a stored flow control (`flow_json`)."""
    if flow is None:
        return ()
    return tuple(Limit(key, limit) for key, limit in codec.loads(flow).get("concurrency", ()))


def memo_from(row: Row) -> Memo:
    """A `Memo` from `MEMO_COLUMNS`."""
    return Memo(step_id=row[0], outcome=codec.loads(row[1]), name=row[2], op=row[3], at=row[4])
