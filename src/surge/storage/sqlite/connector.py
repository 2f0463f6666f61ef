"""SQLite: one file, one connection, one writer thread committing operations in groups.

Every operation, reads included, runs on the thread in `writer`, which batches whatever is
queued into one transaction (a savepoint each). A rule is driven right there, statement by
statement: each result is at hand at once, so nothing is gained by sending statements ahead.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from typing import Any, TypeVar

from surge.core import codec
from surge.core.errors import StorageError

from ..connector import Connector, RuleFactory
from ..migrations import load_migrations, migrate
from ..statements import (
    WAKE,
    Expect,
    InsertRows,
    LockRows,
    Query,
    Rule,
    Serialize,
    Statement,
    Want,
    fill_fragments,
)
from .migrations import SQLiteMigrationTarget
from .writer import Tx, Writer

__all__ = ["SQLiteConnector"]

T = TypeVar("T")

# A list parameter is bound as JSON text; its items are read back with json_each.
_LIST = "(SELECT value FROM json_each(?))"
_DIALECT = {
    "in_texts": f"IN {_LIST}",
    "not_in_texts": f"NOT IN {_LIST}",
    "in_ints": f"IN {_LIST}",
    "skip_locked": "",
    "payload_app_id": "json_extract(payload, '$.app_id')",
}
_rendered: dict[str, str] = {}


def render(sql: str) -> str:
    """Neutral SQL as SQLite reads it (cached: the set of statements is small and fixed)."""
    text = _rendered.get(sql)
    if text is None:
        text = _rendered[sql] = fill_fragments(sql, _DIALECT)
    return text


def _param(value: Any) -> Any:
    return codec.dumps_str(value) if isinstance(value, list | tuple) else value


def _params(values: Sequence[Any]) -> list[Any]:
    return [_param(value) for value in values]


class SQLiteConnector(Connector):
    """A SQLite file (WAL mode), for a single node or a few sharing one disk.

    Args:
        path: The database file; its directory is created on `open`. ``":memory:"`` works too.
    """

    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self._writer: Writer | None = None

    async def open(self, *, now: int) -> None:
        """Create the file (and its directory) if needed and apply pending migrations."""
        if self.path != ":memory:" and not self.path.startswith("file:"):
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)

        def setup(conn: sqlite3.Connection) -> None:
            migrate(SQLiteMigrationTarget(conn), load_migrations("sqlite"), now=now)

        self._writer = Writer(self.path, setup=setup, on_wake=self._notify_wake)
        await self._writer.start()

    async def close(self) -> None:
        """Commit what is queued, stop the writer thread and close the connection."""
        if self._writer is not None:
            await self._writer.stop()

    async def run(self, rule: RuleFactory[T], *, transaction: bool = True) -> T:
        """Run the rule on the writer thread, inside its group's transaction."""
        if self._writer is None:
            raise StorageError("the SQLite storage is not open")
        return await self._writer.submit(lambda tx: drive(tx, rule()))


def drive(tx: Tx, rule: Rule[T]) -> T:
    """Run `rule` to its end on `tx`, sending each statement's result back into it."""
    result: Any = None
    try:
        while True:
            step = rule.send(result)
            if isinstance(step, tuple):
                result = tuple(_run(tx, statement) for statement in step)
            else:
                result = _run(tx, step)
    except StopIteration as done:
        value: T = done.value
        return value


def _run(tx: Tx, statement: Statement) -> Any:
    conn = tx.conn
    if isinstance(statement, Query):
        cursor = conn.execute(render(statement.sql), _params(statement.params))
        if statement.want is Want.ROWS:
            return cursor.fetchall()
        if statement.want is Want.ONE:
            return cursor.fetchone()
        if statement.want is Want.COUNT:
            return cursor.rowcount
        return None
    if isinstance(statement, InsertRows):
        return _insert(conn, statement)
    if isinstance(statement, Expect):
        query = statement.query
        rows = conn.execute(render(query.sql), _params(query.params)).fetchall()
        if len(rows) != statement.rows:
            raise statement.error
        return None
    if isinstance(statement, LockRows | Serialize):
        return None  # the single writer already excludes every other
    if statement is WAKE:
        tx.wake()
        return None
    raise TypeError(f"not a statement: {statement!r}")


def _insert(conn: sqlite3.Connection, insert: InsertRows) -> list[Any] | None:
    table = insert.table
    marks = ", ".join("?" * len(table.columns))
    sql = f"INSERT INTO {table.name} ({table.names()}) VALUES ({marks}) {insert.conflict}"
    if insert.returning is None:
        if insert.rows:
            conn.executemany(sql, insert.rows)
        return None
    # executemany cannot return rows: one statement a row, each telling if it was inserted.
    sql += f" RETURNING {insert.returning}"
    returned = []
    for row in insert.rows:
        found = conn.execute(sql, row).fetchone()
        if found is not None:
            returned.append(found[0])
    return returned
