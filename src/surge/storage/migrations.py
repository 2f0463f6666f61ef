"""Versioned schema migrations, shared by every SQL backend.

Migrations are numbered files ``NNNN_name.sql`` under ``surge/storage/sql/<dialect>/migrations/``,
shipped as package data. `migrate` applies those not yet recorded in the ``schema_migrations``
table, in version order, inside one transaction that shuts out other migrators, so several nodes
may start at once. What differs between databases (locking, running a multi-statement script,
parameter style) sits behind `MigrationTarget`; each backend supplies one for its driver.
"""

from __future__ import annotations

import abc
import re
import sqlite3
import time
from dataclasses import dataclass
from importlib import resources

__all__ = [
    "Migration",
    "MigrationTarget",
    "SQLiteMigrationTarget",
    "load_migrations",
    "migrate",
]

_FILE_NAME = re.compile(r"^(\d+)_(\w+)\.sql$")

# Plain types both SQLite and PostgreSQL accept, so the bookkeeping table is dialect-free.
_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    applied_at  BIGINT NOT NULL
);
"""


@dataclass(frozen=True, kw_only=True)
class Migration:
    """One numbered schema change."""

    version: int
    name: str
    sql: str


def load_migrations(dialect: str) -> list[Migration]:
    """Read the migrations shipped for `dialect` (``"sqlite"``, ``"postgres"``), oldest first.

    Raises:
        ValueError: Two files carry the same version number.
    """
    folder = resources.files(__package__).joinpath("sql", dialect, "migrations")
    found: dict[int, Migration] = {}
    for entry in folder.iterdir():
        match = _FILE_NAME.match(entry.name)
        if match is None or not entry.is_file():
            continue
        version = int(match.group(1))
        if version in found:
            raise ValueError(f"two {dialect} migrations numbered {version}")
        found[version] = Migration(
            version=version, name=match.group(2), sql=entry.read_text(encoding="utf-8")
        )
    return [found[version] for version in sorted(found)]


class MigrationTarget(abc.ABC):
    """The driver-specific half of the runner, bound to one open connection."""

    @abc.abstractmethod
    def begin(self) -> None:
        """Start a transaction no other migrator can run alongside (it waits or fails)."""

    @abc.abstractmethod
    def commit(self) -> None:
        """Commit the transaction `begin` opened."""

    @abc.abstractmethod
    def rollback(self) -> None:
        """Abandon the transaction `begin` opened."""

    @abc.abstractmethod
    def run_script(self, sql: str) -> None:
        """Execute a script of one or more statements inside the transaction."""

    @abc.abstractmethod
    def applied_versions(self) -> set[int]:
        """The versions recorded in ``schema_migrations``."""

    @abc.abstractmethod
    def record(self, migration: Migration, applied_at: int) -> None:
        """Add `migration` to ``schema_migrations``."""


def migrate(target: MigrationTarget, migrations: list[Migration]) -> list[int]:
    """Apply the pending `migrations` through `target`; return the versions applied.

    Either every pending migration is applied or none is.
    """
    target.begin()
    try:
        target.run_script(_CREATE_TABLE)
        applied = target.applied_versions()
        pending = sorted(
            (m for m in migrations if m.version not in applied), key=lambda m: m.version
        )
        for migration in pending:
            target.run_script(migration.sql)
            target.record(migration, int(time.time() * 1000))
    except BaseException:
        target.rollback()
        raise
    target.commit()
    return [m.version for m in pending]


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

    def applied_versions(self) -> set[int]:
        rows = self._conn.execute("SELECT version FROM schema_migrations").fetchall()
        return {int(row[0]) for row in rows}

    def record(self, migration: Migration, applied_at: int) -> None:
        self._conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
            (migration.version, migration.name, applied_at),
        )


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
