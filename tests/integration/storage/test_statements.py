"""Statement kinds whose rendering differs between the databases, on both of them."""

from __future__ import annotations

import pytest

from surge.core.errors import NotFound
from surge.storage import Storage
from surge.storage.connector import Connector
from surge.storage.statements import Expect, Rule, execute, fetch

_SET = "UPDATE flow_state SET until_us = ? WHERE key = ?"
_DROP = "DELETE FROM flow_state WHERE key = ?"


@pytest.fixture
async def db(store: Storage) -> Connector:
    connector: Connector = store._db  # the rules' own runner
    await connector.run(lambda: _rows_of(("a", 1), ("b", 1)))
    return connector


def _rows_of(*rows: tuple[str, int]) -> Rule[None]:
    for key, until in rows:
        yield execute("INSERT INTO flow_state (key, until_us) VALUES (?, ?)", key, until)


def _state() -> Rule[list[tuple[str, int]]]:
    rows = yield fetch("SELECT key, until_us FROM flow_state ORDER BY key")
    return [(key, int(until)) for key, until in rows]


def _either(set_key: str, drop_key: str) -> Rule[None]:
    yield execute(_SET, 5, "b")  # a write before it, undone if it fails
    yield Expect(execute(_SET, 2, set_key), 1, NotFound, otherwise=execute(_DROP, drop_key))


async def test_an_expect_s_otherwise_does_not_run_when_its_query_changed_a_row(
    db: Connector,
) -> None:
    await db.run(lambda: _either("a", "a"))

    assert await db.run(_state) == [("a", 2), ("b", 5)]


async def test_an_expect_s_otherwise_runs_when_its_query_changed_none(db: Connector) -> None:
    await db.run(lambda: _either("nobody", "a"))

    assert await db.run(_state) == [("b", 5)]


async def test_an_expect_fails_when_neither_write_changed_its_rows(db: Connector) -> None:
    with pytest.raises(NotFound):
        await db.run(lambda: _either("nobody", "nobody either"))

    assert await db.run(_state) == [("a", 1), ("b", 1)]
