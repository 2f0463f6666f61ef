"""Versioned schema migrations, shared by every SQL backend.

Migrations are numbered files ``NNNN_name.sql`` under ``surge/storage/sql/<dialect>/migrations/``,
shipped as package data. `migrate` applies those not yet recorded in the ``schema_migrations``
table, in version order, inside one transaction that shuts out other migrators, so several nodes
may start at once. What differs between databases (locking, running a multi-statement script,
parameter style) sits behind `MigrationTarget`; each backend supplies one for its driver
(`sqlite/migrations.py`, `postgres/migrations.py`).
"""

from __future__ import annotations

import abc
import re
from dataclasses import dataclass
from importlib import resources

__all__ = ["Migration", "MigrationTarget", "load_migrations", "migrate"]

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

    placeholder = "?"
    """How the driver writes a query parameter."""

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
    def execute(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """Run one statement inside the transaction; return its rows, if it has any."""

    def applied_versions(self) -> set[int]:
        """The versions recorded in ``schema_migrations``."""
        rows = self.execute("SELECT version FROM schema_migrations")
        return {int(str(row[0])) for row in rows}

    def record(self, migration: Migration, applied_at: int) -> None:
        """Add `migration` to ``schema_migrations``."""
        marks = ", ".join([self.placeholder] * 3)
        sql = f"INSERT INTO schema_migrations (version, name, applied_at) VALUES ({marks})"
        self.execute(sql, (migration.version, migration.name, applied_at))


def migrate(target: MigrationTarget, migrations: list[Migration], *, now: int) -> list[int]:
    """Apply the pending `migrations` through `target`; return the versions applied.

    Either every pending migration is applied or none is; each is recorded as applied at `now`.
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
            target.record(migration, now)
    except BaseException:
        target.rollback()
        raise
    target.commit()
    return [m.version for m in pending]
