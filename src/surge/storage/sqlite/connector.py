"""SQLite: one file, one connection, one writer thread committing operations in groups.

Every operation, reads included, runs on the thread in `writer`, which batches whatever is
queued into one transaction (a savepoint each). A rule is driven right there, statement by
statement: each result is at hand at once, so nothing is gained by sending statements ahead.
"""

from __future__ import annotations

import functools
import os
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from surge.core import codec
from surge.core.errors import StorageError

from ..connector import Connector, RuleFactory
from ..migrations import load_migrations, migrate
from ..statements import (
    WAKE,
    Expect,
    FetchEach,
    InsertRows,
    LockRows,
    Note,
    Query,
    Rule,
    Serialize,
    Table,
    WakeIf,
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
    "in_select": "IN (SELECT * FROM",
    "end_in_select": ")",
}
_rendered: dict[str, tuple[str, bool, bool]] = {}


def render(sql: str) -> tuple[str, bool, bool]:
    """Neutral SQL as SQLite reads it, whether it takes list parameters, and whether it is a
    ``SELECT`` (cached: the set of statements is small and fixed)."""
    found = _rendered.get(sql)
    if found is None:
        is_read = sql.lstrip()[:6].upper() == "SELECT"
        found = _rendered[sql] = (fill_fragments(sql, _DIALECT), "{" in sql, is_read)
    return found


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

        self._writer = Writer(
            self.path, setup=setup, on_wake=self._notify_wake, on_notes=self._tell_notes
        )
        await self._writer.start()

    async def close(self) -> None:
        """Commit what is queued, stop the writer thread and close the connection."""
        if self._writer is not None:
            await self._writer.stop()

    def run(self, rule: RuleFactory[T], *, transaction: bool = True) -> Awaitable[T]:
        """Run the rule on the writer thread, inside its group's transaction (and, with
        `transaction`, its own savepoint)."""
        if self._writer is None:
            raise StorageError("the SQLite storage is not open")
        return self._writer.submit(lambda tx: drive(tx, rule()), savepoint=transaction)


def drive(tx: Tx, rule: Rule[T]) -> T:
    """Run `rule` to its end on `tx`, sending each statement's result back into it."""
    result: Any = None
    send = rule.send
    try:
        while True:
            step = send(result)
            if type(step) is tuple:
                result = tuple([_HANDLERS[type(s)](tx, s) for s in step])
            else:
                result = _HANDLERS[type(step)](tx, step)
    except StopIteration as done:
        value: T = done.value
        return value


def _query(tx: Tx, query: Query) -> Any:
    text, lists, _ = _rendered.get(query.sql) or render(query.sql)
    params: Sequence[Any] = query.params
    if lists:
        params = [codec.dumps_str(p) if isinstance(p, list | tuple) else p for p in params]
    cursor = tx.conn.execute(text, params)
    want = query.want
    if want is Want.NOTHING:
        return None
    if want is Want.ROWS:
        return cursor.fetchall()
    if want is Want.ONE:
        return cursor.fetchone()
    return cursor.rowcount


def _cursor(tx: Tx, query: Query) -> sqlite3.Cursor:
    text, lists, _ = _rendered.get(query.sql) or render(query.sql)
    params: Sequence[Any] = query.params
    if lists:
        params = [codec.dumps_str(p) if isinstance(p, list | tuple) else p for p in params]
    return tx.conn.execute(text, params)


def _fetch_each(tx: Tx, each: FetchEach) -> list[Any]:
    text = (_rendered.get(each.sql) or render(each.sql))[0]
    return [(key, *row) for key in each.keys for row in tx.conn.execute(text, (key,))]


def _expect(tx: Tx, expect: Expect) -> None:
    cursor = _cursor(tx, expect.query)
    is_read = _rendered[expect.query.sql][2]
    found = len(cursor.fetchall()) if is_read else cursor.rowcount
    if found == 0 and expect.otherwise is not None:
        found = _cursor(tx, expect.otherwise).rowcount
    if found != expect.rows:
        raise expect.error()


def _insert(tx: Tx, insert: InsertRows) -> list[Any] | None:
    conn = tx.conn
    if insert.returning is None:
        rows = insert.rows
        if len(rows) == 1:
            conn.execute(_insert_sql(insert.table, insert.conflict), rows[0])
        elif rows:
            conn.executemany(_insert_sql(insert.table, insert.conflict), rows)
        return None
    # executemany returns no rows. With one writer nothing can be inserted between a look-up
    # and the insert, so the rows to insert are those whose key is not stored yet.
    table, key = insert.table, insert.returning
    at = [column.name for column in table.columns].index(key)
    sql = f"SELECT {key} FROM {table.name} WHERE {key} IN {_LIST}"
    seen = {row[0] for row in conn.execute(sql, (codec.dumps_str([r[at] for r in insert.rows]),))}
    new = []
    for row in insert.rows:
        if row[at] not in seen:
            seen.add(row[at])
            new.append(row)
    if new:
        conn.executemany(_insert_sql(table, insert.conflict), new)
    return [row[at] for row in new]


def _nothing(tx: Tx, statement: object) -> None:
    """Row and advisory locks: the single writer already excludes every other."""


def _wake(tx: Tx, statement: object) -> None:
    tx.wake()


def _note(tx: Tx, note: Note) -> None:
    tx.notes.append(note)


def _wake_if(tx: Tx, statement: WakeIf) -> None:
    if _cursor(tx, statement.query).fetchone() is not None:
        tx.wake()


_HANDLERS: dict[type, Callable[[Tx, Any], Any]] = {
    Query: _query,
    InsertRows: _insert,
    Expect: _expect,
    FetchEach: _fetch_each,
    LockRows: _nothing,
    Serialize: _nothing,
    WakeIf: _wake_if,
    type(WAKE): _wake,
    Note: _note,
}


@functools.cache
def _insert_sql(table: Table, conflict: str) -> str:
    marks = ", ".join("?" * len(table.columns))
    return f"INSERT INTO {table.name} ({table.names()}) VALUES ({marks}) {conflict}"
