"""Schema migrations on SQLite: the `MigrationTarget` for a `sqlite3` connection."""

from __future__ import annotations

import sqlite3

from ..migrations import MigrationTarget

__all__ = ["SQLiteMigrationTarget", "split_sqlite_script"]


class SQLiteMigrationTarget(MigrationTarget):
    """Migrations on a `sqlite3` connection opened with ``isolation_level=None``."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def begin(self) -> None:
        # IMMEDIATE takes the write lock up front, so a second node waits here (busy_timeout)
        # and then sees the versions the first one recorded.
        self._conn.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self._conn.execute("COMMIT")

    def rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def run_script(self, sql: str) -> None:
        # `executescript` would commit the open transaction first, so run statement by statement.
        for statement in split_sqlite_script(sql):
            self._conn.execute(statement)

    def execute(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        return self._conn.execute(sql, params).fetchall()


def split_sqlite_script(sql: str) -> list[str]:
    """Split a SQLite script into complete statements (comments stay with the next one).

    Raises:
        ValueError: The script ends inside an unterminated statement.
    """
    statements: list[str] = []
    buffer = ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    leftover = [ln for ln in buffer.splitlines() if ln.strip() and not ln.strip().startswith("--")]
    if leftover:
        raise ValueError(f"unterminated SQL statement: {leftover[0]!r}")
    return statements
