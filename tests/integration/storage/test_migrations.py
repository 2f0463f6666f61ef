"""The migration runner on a real SQLite file."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from surge.storage.migrations import (
    Migration,
    SQLiteMigrationTarget,
    load_migrations,
    migrate,
    split_sqlite_script,
)
from surge.storage.sqlite import SQLiteStorage

EXPECTED_TABLES = {
    "apps",
    "events",
    "functions",
    "history",
    "memos",
    "run_events",
    "runs",
    "schema_migrations",
    "work_items",
}


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    yield connection
    connection.close()


def _tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in rows if not name.startswith("sqlite_")}


def _recorded(conn: sqlite3.Connection) -> list[tuple[int, str, int]]:
    return conn.execute(
        "SELECT version, name, applied_at FROM schema_migrations ORDER BY version"
    ).fetchall()


def test_shipped_migrations_are_numbered_from_one() -> None:
    versions = [m.version for m in load_migrations("sqlite")]

    assert versions == list(range(1, len(versions) + 1))


def test_fresh_database_gets_every_table(conn: sqlite3.Connection) -> None:
    migrations = load_migrations("sqlite")

    applied = migrate(SQLiteMigrationTarget(conn), migrations)

    assert applied == [m.version for m in migrations]
    assert _tables(conn) == EXPECTED_TABLES
    assert [(v, n) for v, n, _ in _recorded(conn)] == [(m.version, m.name) for m in migrations]


def test_second_run_applies_nothing(conn: sqlite3.Connection) -> None:
    target = SQLiteMigrationTarget(conn)
    migrate(target, load_migrations("sqlite"))
    before = _recorded(conn)

    assert migrate(target, load_migrations("sqlite")) == []
    assert _recorded(conn) == before


def test_only_new_migrations_run_on_an_existing_database(conn: sqlite3.Connection) -> None:
    target = SQLiteMigrationTarget(conn)
    shipped = load_migrations("sqlite")
    migrate(target, shipped)
    extra = Migration(
        version=shipped[-1].version + 1,
        name="add_notes",
        sql="-- a later change\nCREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);\n"
        "CREATE INDEX notes_body ON notes (body);\n",
    )

    assert migrate(target, [*shipped, extra]) == [extra.version]
    assert _tables(conn) == EXPECTED_TABLES | {"notes"}


def test_failed_migration_leaves_no_trace(conn: sqlite3.Connection) -> None:
    target = SQLiteMigrationTarget(conn)
    broken = Migration(version=99, name="broken", sql="CREATE TABLE ok (x);\nNOT SQL;\n")

    with pytest.raises(sqlite3.Error):
        migrate(target, [*load_migrations("sqlite"), broken])

    assert _tables(conn) == set()


def test_unterminated_script_is_rejected() -> None:
    with pytest.raises(ValueError, match="unterminated"):
        split_sqlite_script("CREATE TABLE a (x);\nCREATE TABLE b (y)\n-- trailing comment\n")


async def test_reopening_a_storage_applies_nothing_twice(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    for _ in range(2):
        storage = SQLiteStorage(str(path))
        await storage.open()
        await storage.close()

    with sqlite3.connect(path) as check:
        recorded = check.execute("SELECT version FROM schema_migrations").fetchall()
    check.close()
    assert [v for (v,) in recorded] == [m.version for m in load_migrations("sqlite")]
