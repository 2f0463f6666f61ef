"""The SQLite writer thread: operations committed in groups, each failing alone."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from surge.core.errors import StorageError
from surge.storage.sqlite.writer import Tx, Writer


def _setup(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")


async def _stored(writer: Writer) -> list[str]:
    rows = await writer.submit(lambda tx: tx.conn.execute("SELECT k FROM t ORDER BY k").fetchall())
    return [row[0] for row in rows]


def _insert(*keys: str) -> Callable[[Tx], None]:
    def op(tx: Tx) -> None:
        for key in keys:
            tx.conn.execute("INSERT INTO t (k) VALUES (?)", (key,))

    return op


@pytest.fixture
async def writer(tmp_path: Path) -> AsyncIterator[Writer]:
    writer = Writer(str(tmp_path / "w.db"), setup=_setup, on_wake=lambda: None)
    await writer.start()
    yield writer
    await writer.stop()


async def test_a_failing_operation_leaves_no_trace_and_the_others_commit(writer: Writer) -> None:
    results = await asyncio.gather(
        writer.submit(_insert("a")),
        # Its first insert succeeds before the second hits the primary key: both are undone.
        writer.submit(_insert("b", "a")),
        writer.submit(_insert("c")),
        return_exceptions=True,
    )

    assert results[0] is None and results[2] is None
    assert isinstance(results[1], StorageError)
    assert "UNIQUE" in str(results[1])
    assert await _stored(writer) == ["a", "c"]


async def test_without_a_savepoint_only_the_failing_statement_is_undone(writer: Writer) -> None:
    results = await asyncio.gather(
        writer.submit(_insert("a")),
        writer.submit(_insert("b", "a"), savepoint=False),
        writer.submit(lambda tx: tx.conn.execute("SELECT nope FROM t").fetchall(), savepoint=False),
        writer.submit(_insert("c"), savepoint=False),
        return_exceptions=True,
    )

    assert results[0] is None and results[3] is None
    assert isinstance(results[1], StorageError) and "UNIQUE" in str(results[1])
    assert isinstance(results[2], StorageError) and "nope" in str(results[2])
    # The savepoint-less operation's statement before the failing one stands, as it would
    # on PostgreSQL outside a transaction.
    assert await _stored(writer) == ["a", "b", "c"]
