"""The migration runner on a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from surge.storage import open_storage
from surge.storage.migrations import Migration, MigrationTarget, load_migrations
from surge.storage.migrations import migrate as migrate_at
from surge.storage.postgres.migrations import PostgresMigrationTarget
from surge.storage.sqlite.migrations import SQLiteMigrationTarget, split_sqlite_script

DIALECTS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]

EXPECTED_TABLES = {
    "apps",
    "events",
    "flow_state",
    "functions",
    "gathers",
    "cancellations",
    "dashboard_sessions",
    "login_attempts",
    "pauses",
    "pause_paths",
    "history",
    "memos",
    "registry",
    "replays",
    "span_metadata",
    "run_events",
    "runs",
    "schema_migrations",
    "suspensions",
    "work_items",
}

Schema = dict[str, Any]
APPLIED_AT = 1_700_000_000_000


def migrate(target: MigrationTarget, migrations: list[Migration]) -> list[int]:
    return migrate_at(target, migrations, now=APPLIED_AT)


@dataclass
class Database:
    """One empty database of a dialect, with what the tests need to look inside it."""

    dialect: str
    conn: Any
    target: MigrationTarget

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = self.conn.execute(sql).fetchall()
        return rows

    def tables(self) -> set[str]:
        if self.dialect == "sqlite":
            rows = self.query("SELECT name FROM sqlite_master WHERE type = 'table'")
            return {name for (name,) in rows if not name.startswith("sqlite_")}
        rows = self.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {name for (name,) in rows}

    def recorded(self) -> list[tuple[int, str, int]]:
        rows = self.query("SELECT version, name, applied_at FROM schema_migrations ORDER BY 1")
        return [(int(v), str(n), int(a)) for v, n, a in rows]

    def schema(self) -> Schema:
        """Every table's columns (name, type, nullability, default), indexes and constraints."""
        return _sqlite_schema(self) if self.dialect == "sqlite" else _postgres_schema(self)

    def columns(self) -> dict[str, list[str]]:
        """Each table's column names in order: the logical schema both dialects share."""
        return {table: [c[0] for c in spec["columns"]] for table, spec in self.schema().items()}

    def indexes(self) -> set[str]:
        return {name for spec in self.schema().values() for name, _ in spec["indexes"]}


def _sqlite_schema(db: Database) -> Schema:
    schema: Schema = {}
    for table in sorted(db.tables()):
        columns = [
            (name, kind, bool(notnull), default, pk)
            for _, name, kind, notnull, default, pk in db.query(f"PRAGMA table_info({table})")
        ]
        indexes = db.query(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            f" AND tbl_name = '{table}' ORDER BY name"
        )
        schema[table] = {"columns": columns, "indexes": indexes}
    return schema


def _postgres_schema(db: Database) -> Schema:
    schema: Schema = {}
    for table in sorted(db.tables()):
        columns = db.query(
            "SELECT column_name, data_type, is_nullable, column_default, is_identity"
            f" FROM information_schema.columns WHERE table_name = '{table}'"
            " ORDER BY ordinal_position"
        )
        indexes = db.query(
            f"SELECT indexname, indexdef FROM pg_indexes WHERE tablename = '{table}' ORDER BY 1"
        )
        constraints = db.query(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            f" WHERE conrelid = '{table}'::regclass ORDER BY 1"
        )
        schema[table] = {"columns": columns, "indexes": indexes, "constraints": constraints}
    return schema


def _connect(dialect: str, tmp_path: Path, name: str, request: pytest.FixtureRequest) -> Any:
    if dialect == "sqlite":
        return sqlite3.connect(tmp_path / f"{name}.db", isolation_level=None)
    new_database: Callable[[], str] = request.getfixturevalue("new_postgres_database")
    return psycopg.connect(new_database())


def _target(dialect: str, conn: Any) -> MigrationTarget:
    if dialect == "sqlite":
        return SQLiteMigrationTarget(conn)
    return PostgresMigrationTarget(conn)


MakeDatabase = Callable[[str], Database]


@pytest.fixture(params=DIALECTS)
def make_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeDatabase]:
    """Makes empty databases of one dialect, each under its own name; closes them afterwards."""
    dialect: str = request.param
    opened: list[Any] = []

    def make(name: str) -> Database:
        conn = _connect(dialect, tmp_path, name, request)
        opened.append(conn)
        return Database(dialect, conn, _target(dialect, conn))

    yield make
    for conn in opened:
        conn.close()


@pytest.fixture
def db(make_db: MakeDatabase) -> Database:
    return make_db("m")


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_shipped_migrations_are_numbered_from_one(dialect: str) -> None:
    versions = [m.version for m in load_migrations(dialect)]

    assert versions == list(range(1, len(versions) + 1))


def test_fresh_database_gets_every_table(db: Database) -> None:
    migrations = load_migrations(db.dialect)

    applied = migrate(db.target, migrations)

    assert applied == [m.version for m in migrations]
    assert db.tables() == EXPECTED_TABLES
    assert db.recorded() == [(m.version, m.name, APPLIED_AT) for m in migrations]


def test_second_run_applies_nothing(db: Database) -> None:
    migrate(db.target, load_migrations(db.dialect))
    before = db.recorded()

    assert migrate(db.target, load_migrations(db.dialect)) == []
    assert db.recorded() == before


def test_only_new_migrations_run_on_an_existing_database(db: Database) -> None:
    shipped = load_migrations(db.dialect)
    migrate(db.target, shipped)
    extra = Migration(
        version=shipped[-1].version + 1,
        name="add_notes",
        sql="-- a later change\nCREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);\n"
        "CREATE INDEX notes_body ON notes (body);\n",
    )

    assert migrate(db.target, [*shipped, extra]) == [extra.version]
    assert db.tables() == EXPECTED_TABLES | {"notes"}


def test_failed_migration_leaves_no_trace(db: Database) -> None:
    # The first statement succeeds, the second fails: the first must be undone too.
    broken = Migration(
        version=99,
        name="broken",
        sql="CREATE TABLE ok (x INTEGER);\nINSERT INTO nowhere VALUES (1);\n",
    )

    with pytest.raises((sqlite3.Error, psycopg.Error)):
        migrate(db.target, [*load_migrations(db.dialect), broken])

    assert db.tables() == set()


def test_a_fresh_schema_equals_one_upgraded_version_by_version(make_db: MakeDatabase) -> None:
    fresh, upgraded = make_db("m"), make_db("upgraded")
    migrations = load_migrations(fresh.dialect)

    migrate(fresh.target, migrations)
    for count in range(1, len(migrations) + 1):  # one release after another
        migrate(upgraded.target, migrations[:count])

    assert upgraded.schema() == fresh.schema()


@pytest.mark.postgres
def test_both_dialects_have_the_same_logical_schema(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    dbs = []
    for dialect in ("sqlite", "postgres"):
        conn = _connect(dialect, tmp_path, "m", request)
        request.addfinalizer(conn.close)
        dbs.append(Database(dialect, conn, _target(dialect, conn)))
        migrate(dbs[-1].target, load_migrations(dialect))
    sqlite_db, postgres_db = dbs

    assert postgres_db.columns() == sqlite_db.columns()
    assert postgres_db.indexes() - sqlite_db.indexes() == {
        f"{table}_pkey" for table in EXPECTED_TABLES
    } | {"apps_url_key", "work_items_unique_key_key"}


def test_unterminated_script_is_rejected() -> None:
    with pytest.raises(ValueError, match="unterminated"):
        split_sqlite_script("CREATE TABLE a (x);\nCREATE TABLE b (y)\n-- trailing comment\n")


async def test_reopening_a_storage_applies_nothing_twice(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    for _ in range(2):
        storage = open_storage(str(path))
        await storage.open(now=APPLIED_AT)
        await storage.close()

    with sqlite3.connect(path) as check:
        recorded = check.execute("SELECT version FROM schema_migrations").fetchall()
    check.close()
    assert [v for (v,) in recorded] == [m.version for m in load_migrations("sqlite")]
