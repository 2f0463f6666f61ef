"""Schema migrations on PostgreSQL: the `MigrationTarget` for a psycopg connection.

The runner in `migrations` is synchronous, so `apply_migrations` runs it on a blocking psycopg
connection in a worker thread, once per `PostgresStorage.open`.
"""

from __future__ import annotations

import psycopg
from psycopg.rows import TupleRow

from .migrations import Migration, MigrationTarget, load_migrations, migrate

MIGRATIONS_LOCK = (0x5375, 0)
"""The advisory lock (two int4 keys) every migrating node takes: "Su", 0."""


class PostgresMigrationTarget(MigrationTarget):
    """Migrations on a psycopg connection that is not in autocommit mode.

    `begin` takes a transaction-level advisory lock, so a second node starting at the same
    moment waits there and then finds the versions the first one recorded. PostgreSQL DDL is
    transactional: a failed migration leaves nothing behind.
    """

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

    def applied_versions(self) -> set[int]:
        rows = self._conn.execute("SELECT version FROM schema_migrations").fetchall()
        return {int(row[0]) for row in rows}

    def record(self, migration: Migration, applied_at: int) -> None:
        self._conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (%s, %s, %s)",
            (migration.version, migration.name, applied_at),
        )


def apply_migrations(conninfo: str) -> list[int]:
    """Connect, apply the pending PostgreSQL migrations, disconnect; return versions applied."""
    with psycopg.connect(conninfo, application_name="surge-migrate") as conn:
        return migrate(PostgresMigrationTarget(conn), load_migrations("postgres"))
