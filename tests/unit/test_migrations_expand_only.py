"""Migrations expand; they contract only a release later (`docs/decisions.md`, "Rolling
upgrades").

During a rolling upgrade, nodes of the previous version run on the schema this version
migrated to (`tests/acceptance/test_rolling_upgrade.py`), so a migration may add tables,
columns (nullable or with a default), indexes and functions, but must not drop, rename,
retype or tighten anything the previous version still uses. A contracting statement is
allowed only in a migration that says, in a ``-- contract:`` comment, which earlier release
stopped using what it removes. Three earlier migrations predate the rule.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

MIGRATIONS = Path(__file__).resolve().parents[2] / "src/surge/storage/sql"
BEFORE_THE_RULE = {
    ("postgres", "0002_registry_version.sql"),
    ("postgres", "0006_events_by_name_and_arrival.sql"),
    ("sqlite", "0006_events_by_name_and_arrival.sql"),
}
"""Migrations that contracted before rolling upgrades were promised."""
CONTRACTING = re.compile(
    r"\bDROP\b"
    r"|\bRENAME\b"
    r"|\bALTER\s+COLUMN\s+\w+\s+(?:SET\s+DATA\s+)?TYPE\b"
    r"|\bSET\s+NOT\s+NULL\b"
    r"|\bADD\s+COLUMN\s+\w+\s+[\w()]+\s+NOT\s+NULL(?![^,;]*\bDEFAULT\b)",
    re.IGNORECASE,
)


def _code(sql: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in sql.splitlines())


MIGRATION_FILES = sorted(MIGRATIONS.glob("*/migrations/*.sql"))


def test_every_migration_was_checked() -> None:
    dialects = {path.parent.parent.name for path in MIGRATION_FILES}
    assert dialects == {"sqlite", "postgres"}, MIGRATION_FILES


@pytest.mark.parametrize("path", MIGRATION_FILES, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_a_migration_only_expands_unless_it_names_the_release_it_contracts_for(
    path: Path,
) -> None:
    sql = path.read_text(encoding="utf-8")
    found = CONTRACTING.search(_code(sql))
    if (path.parent.parent.name, path.name) in BEFORE_THE_RULE:
        assert found is not None, f"{path.name} no longer contracts: drop it from the list"
        return
    assert found is None or "-- contract:" in sql, (
        f"{path.parent.parent.name}/{path.name} contracts the schema ({found.group(0)!r}),"
        " which nodes of the previous version may still use during a rolling upgrade: add"
        " what you need instead, and remove the old thing a release later, in a migration"
        " whose '-- contract:' comment names the release that stopped using it"
    )


@pytest.mark.parametrize(
    ("sql", "contracts"),
    [
        ("ALTER TABLE runs ADD COLUMN note TEXT;", False),
        ("ALTER TABLE runs ADD COLUMN tries INTEGER NOT NULL DEFAULT 0;", False),
        ("CREATE INDEX runs_x ON runs (x);", False),
        ("-- we DROP nothing here\nCREATE TABLE t (id TEXT);", False),
        ("ALTER TABLE runs DROP COLUMN note;", True),
        ("DROP TABLE pauses;", True),
        ("ALTER TABLE runs RENAME COLUMN a TO b;", True),
        ("ALTER TABLE runs ALTER COLUMN at TYPE TEXT;", True),
        ("ALTER TABLE runs ALTER COLUMN at SET NOT NULL;", True),
        ("ALTER TABLE runs ADD COLUMN tries INTEGER NOT NULL;", True),
    ],
)
def test_the_check_tells_expanding_from_contracting(sql: str, contracts: bool) -> None:
    assert (CONTRACTING.search(_code(sql)) is not None) is contracts
