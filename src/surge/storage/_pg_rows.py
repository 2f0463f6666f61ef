"""SQL shared by the PostgreSQL modules, and bulk-insert helpers.

Row ⇄ record conversion is dialect-free and shared with SQLite (`_rows`); only the SQL
text differs. Bulk inserts pass one array per column and ``unnest`` them, so thousands of rows
cost one statement and one round trip.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ._pg_pool import PgTx
from ._rows import Row, history_to_row, item_to_row
from .records import HistoryEntry, NewWorkItem

INSERT_ITEMS = (
    "INSERT INTO work_items"
    " (kind, run_id, step_id, attempt, priority, due_at, payload, unique_key)"
    " SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::int[], %s::int[],"
    " %s::bigint[], %s::text[], %s::text[])"
    " ON CONFLICT (unique_key) DO NOTHING"
)
INSERT_HISTORY = (
    "INSERT INTO history (run_id, at, kind, step_id, attempt, detail)"
    " SELECT * FROM unnest(%s::text[], %s::bigint[], %s::text[], %s::text[], %s::int[],"
    " %s::text[])"
)


def pg_array(values: Iterable[object]) -> str:
    """`values` (text, integers or `None`) as a PostgreSQL array literal, e.g. ``{"a",NULL,2}``.

    Sent as text and cast in the SQL (``%s::text[]``): writing the literal here costs a fraction
    of what the driver's generic list adaptation does, which a commit pays two dozen times.
    """
    return "{" + ",".join(map(_element, values)) + "}"


def _element(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in a text or integer array")


def columns(rows: Sequence[Row], width: int) -> list[str]:
    """`rows` turned into one array literal per column, the parameters of an ``unnest`` insert."""
    if not rows:
        return ["{}"] * width
    return [pg_array(column) for column in zip(*rows, strict=True)]


async def insert_items(tx: PgTx, items: Sequence[NewWorkItem]) -> None:
    """Queue `items` (skipping taken `unique_key`s) and wake every node on commit."""
    if items:
        rows = [item_to_row(item) for item in items]
        await tx.conn.execute(INSERT_ITEMS, columns(rows, 8))
        tx.wake()


async def insert_history(tx: PgTx, entries: Sequence[HistoryEntry]) -> None:
    """Append `entries` to their runs' history, in order."""
    if entries:
        rows = [history_to_row(entry) for entry in entries]
        await tx.conn.execute(INSERT_HISTORY, columns(rows, 6))
