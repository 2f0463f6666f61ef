"""Schema migrations on PostgreSQL: the `MigrationTarget` for a psycopg connection.

The runner in `storage/migrations.py` is synchronous, so `apply_migrations` runs it on a blocking
psycopg connection in a worker thread, once per `PostgresConnector.open`.
"""

from __future__ import annotations

import psycopg
from psycopg.rows import TupleRow

from ..migrations import MigrationTarget, load_migrations, migrate

LOCK_CLASS = 0x5375
"""The first key of Surge's two-key advisory locks ("Su")."""
MIGRATIONS_LOCK = (LOCK_CLASS, 0)
"""The advisory lock every migrating node takes."""


class PostgresMigrationTarget(MigrationTarget):
    """Migrations on a psycopg connection that is not in autocommit mode.

    `begin` takes a transaction-level advisory lock, so a second node starting at the same
    moment waits there and then finds the versions the first one recorded. PostgreSQL DDL is
    transactional: a failed migration leaves nothing behind.
    """

    placeholder = "%s"

    def __init__(self, conn: psycopg.Connection[TupleRow]) -> None:
        self._conn = conn

    def begin(self) -> None:
        # psycopg opens the transaction with the first statement.
        self._conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", MIGRATIONS_LOCK)

    def commit(self) -> None:
        self._conn.commit()

    def rollback(self) -> None:
        self._conn.rollback()

    def run_script(self, sql: str) -> None:
        # Without parameters psycopg sends the script as one simple query, statements and all.
        self._conn.execute(sql.encode())

    def execute(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        cursor = self._conn.execute(sql, params)
        return cursor.fetchall() if cursor.description is not None else []


def apply_migrations(conninfo: str, *, now: int) -> list[int]:
    """Connect, apply the pending PostgreSQL migrations, disconnect; return versions applied."""
    with psycopg.connect(conninfo, application_name="surge-migrate") as conn:
        return migrate(PostgresMigrationTarget(conn), load_migrations("postgres"), now=now)
