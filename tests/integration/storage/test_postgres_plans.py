"""The plans PostgreSQL makes of the hot path's statements, whatever its statistics say.

Each test gives the planner the statistics that misled it in the fan-out benchmark — taken
while the tables were empty, or while one run held most rows — and checks the plan a prepared
statement keeps, of the statement as Surge sends it (`postgres/batch.py` renders the neutral
SQL).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import psycopg
import pytest
from storage_kit import now

from surge.storage import open_storage
from surge.storage.postgres.batch import _each, _numbered
from surge.storage.rules.commit import INSERT_MEMO
from surge.storage.rules.queue import _LEASE
from surge.storage.rules.runs import _MEMOS, _RUN_STATE
from surge.storage.statements import FetchEach

pytestmark = pytest.mark.postgres


@pytest.fixture
async def db(postgres_url: str) -> AsyncIterator[psycopg.AsyncConnection[tuple[object, ...]]]:
    """A connection to a database migrated by Surge."""
    storage = open_storage(postgres_url)
    await storage.open(now=now())
    await storage.close()
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as conn:
        yield conn


async def _plan(conn: psycopg.AsyncConnection[tuple[object, ...]], sql: str) -> str:
    rows = await (await conn.execute(f"EXPLAIN {sql}")).fetchall()
    return "\n".join(str(row[0]) for row in rows)


async def test_the_memo_insert_keeps_its_plan_after_one_run_held_most_rows(
    db: psycopg.AsyncConnection[tuple[object, ...]],
) -> None:
    # A fan-out's orchestrator early on: one run with many memos, a few children with one.
    await db.execute(
        "INSERT INTO memos (run_id, step_id, seq, outcome, at)"
        " SELECT 'orchestrator', 's' || i, i, '{}', 0 FROM generate_series(1, 200) i"
    )
    await db.execute(
        "INSERT INTO memos (run_id, step_id, seq, outcome, at)"
        " SELECT 'child' || i, 'a', 1, '{}', 0 FROM generate_series(1, 20) i"
    )
    await db.execute("ANALYZE memos")
    await db.execute(
        "INSERT INTO memos (run_id, step_id, seq, outcome, at)"
        " SELECT 'child' || i, 'a', 1, '{}', 0 FROM generate_series(21, 20000) i"
    )
    await db.execute(f"PREPARE insert_memo AS {_numbered(INSERT_MEMO)}")
    for n in range(10):
        await db.execute(f"EXECUTE insert_memo ('new{n}', 'a', 'new{n}', '', '', '{{}}', 0)")

    row = await (
        await db.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
            " WHERE name = 'insert_memo'"
        )
    ).fetchone()

    # Planned for each of its first five executions, then planned once and reused.
    assert row == (5, 5)


async def test_a_lease_finds_its_items_by_index_in_a_queue_believed_small(
    db: psycopg.AsyncConnection[tuple[object, ...]],
) -> None:
    await db.execute("ANALYZE work_items")  # statistics of an empty queue
    await db.execute(
        "INSERT INTO work_items (kind, run_id, step_id, due_at, unique_key)"
        " SELECT 'call', 'run' || i, 'step', i, 'key' || i FROM generate_series(1, 10000) i"
    )
    await db.execute(f"PREPARE lease AS {_numbered(_LEASE)}")
    await db.execute("SET plan_cache_mode = force_generic_plan")

    plan = await _plan(db, "EXECUTE lease (99999, 'token:', 20000, 50)")

    assert "Seq Scan" not in plan, plan
    assert "Index Cond: (id = ANY" in plan, plan


@pytest.mark.parametrize("query", [_RUN_STATE, _MEMOS], ids=["runs", "memos"])
async def test_runs_read_by_many_ids_are_looked_up_one_by_one(
    db: psycopg.AsyncConnection[tuple[object, ...]], query: str
) -> None:
    await db.execute("ANALYZE runs, memos")  # statistics of empty tables
    await db.execute(
        "INSERT INTO runs (id, function_id, status, event_ids, started_at)"
        " SELECT 'run' || i, 'fn', 'running', '[]', 0 FROM generate_series(1, 10000) i"
    )
    await db.execute(
        "INSERT INTO memos (run_id, step_id, seq, outcome, at)"
        " SELECT 'run' || i, 'a', 1, '{}', 0 FROM generate_series(1, 10000) i"
    )
    await db.execute(f"PREPARE each AS {_each(FetchEach(query, []))[0].sql}")
    await db.execute("SET plan_cache_mode = force_generic_plan")
    ids = "{" + ",".join(f"run{n}" for n in range(1, 10000, 100)) + "}"

    plan = await _plan(db, f"EXECUTE each ('{ids}')")

    assert "Seq Scan" not in plan, plan
