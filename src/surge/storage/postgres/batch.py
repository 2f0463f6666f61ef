"""Running a rule on one PostgreSQL connection, in as few round trips as its reads allow.

Each statement a rule yields becomes ``EXECUTE name(literals...)`` of a statement prepared
once per connection (so its plan is cached, as a stored procedure's would be). Statements
whose results the rule does not read wait in a batch; when the rule needs a result, or ends,
the batch goes out as one simple query, one message and one round trip. A batch that starts a
transaction the rule continues after reading begins with ``BEGIN``; the last one ends with
``COMMIT``; a rule that reads nothing until it ends needs neither, since the statements of one
simple query run as one transaction of their own.

An `Expect` runs inside the batch as a statement that fails unless its query gave the rows it
expects; the failure aborts the transaction, and the rule's error is raised in its place.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from .. import statements as st
from .literals import literal
from .migrations import LOCK_CLASS

NOTIFY_CHANNEL = "surge_work"
"""Where nodes tell each other of new work (`listen.py`)."""
WAKE_EVERY_NODE = "*"
"""A notification's payload that no node takes for its own: every node wakes."""

__all__ = ["Effects", "ExpectFailed", "Message", "Session"]

T = TypeVar("T")

_STORED_AS = {"JSON": "TEXT", "ENUM": "TEXT"}
"""Column types stored as another type."""

# A list parameter is an array literal.
_DIALECT = {
    "in_texts": "= ANY(CAST(? AS TEXT[]))",
    "not_in_texts": "<> ALL(CAST(? AS TEXT[]))",
    "in_ints": "= ANY(CAST(? AS BIGINT[]))",
    "skip_locked": "FOR UPDATE SKIP LOCKED",
    "payload_app_id": "((payload::jsonb) ->> 'app_id')",
    "in_select": "= ANY(ARRAY",
    "end_in_select": ")",
}
_EXPECT_MARK = "surge-expect:"
_EXPECT_FAILED = re.compile(_EXPECT_MARK + r"(\d+):")


class _Prepared:
    """A statement's PostgreSQL text and the name it is prepared under on every connection."""

    __slots__ = ("name", "sql")

    def __init__(self, name: str, sql: str) -> None:
        self.name = name
        self.sql = sql


_statements: dict[object, _Prepared] = {}


def _prepared(key: object, build: Callable[[], str]) -> _Prepared:
    entry = _statements.get(key)
    if entry is None:
        entry = _statements[key] = _Prepared(f"surge_{len(_statements)}", build())
    return entry


def _numbered(sql: str) -> str:
    """``?`` placeholders as ``$1``, ``$2``...; the fragments filled in first."""
    parts = st.fill_fragments(sql, _DIALECT).split("?")
    return parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], 1))


def _render(statement: st.Statement, position: int) -> tuple[_Prepared, Sequence[Any]] | None:
    """The prepared statement and parameters that carry out `statement`; `None` when there is
    nothing to send."""
    if isinstance(statement, st.Query):
        return _prepared(statement.sql, lambda: _numbered(statement.sql)), statement.params
    if isinstance(statement, st.InsertRows):
        if not statement.rows:
            return None
        if len(statement.rows) == 1:  # the common case: plain values, no arrays to parse
            return _insert(statement, one=True), statement.rows[0]
        columns = [list(column) for column in zip(*statement.rows, strict=True)]
        return _insert(statement, one=False), columns
    if isinstance(statement, st.Expect):
        query, otherwise = statement.query, statement.otherwise
        if otherwise is not None:
            either = ("expect", statement.rows, query.sql, otherwise.sql)
            params = (*query.params, *otherwise.params, position)
            return _prepared(
                either, lambda: _expect_either(query, otherwise, statement.rows)
            ), params
        key = ("expect", statement.rows, query.sql)
        return _prepared(key, lambda: _expect(query, statement.rows)), (*query.params, position)
    if isinstance(statement, st.FetchEach):
        return _each(statement)
    if isinstance(statement, st.LockRows):
        return _lock(statement)
    if isinstance(statement, st.WakeIf):
        # Sent by the committing transaction, so to every node, this one too (not its id).
        query = statement.query

        def notify_if() -> str:
            # A CTE, so that the query may be an INSERT ... RETURNING.
            notify = f"SELECT pg_notify('{NOTIFY_CHANNEL}', '{WAKE_EVERY_NODE}')"
            return f"WITH q AS ({_numbered(query.sql)}) {notify} WHERE EXISTS (SELECT 1 FROM q)"

        return _prepared(("wake_if", query.sql), notify_if), query.params
    if isinstance(statement, st.Serialize):
        return _serialize(statement)
    raise TypeError(f"not a statement: {statement!r}")


def _each(each: st.FetchEach) -> tuple[_Prepared, Sequence[Any]]:
    sql = each.sql

    def lateral() -> str:
        # OFFSET 0 keeps the subquery whole: one look-up a key, never a join the planner may
        # turn into a scan.
        inner = _numbered(sql.replace("?", "k.key"))
        return (
            "SELECT k.key, q.* FROM unnest(CAST($1 AS TEXT[])) AS k(key)"
            f" CROSS JOIN LATERAL ({inner} OFFSET 0) AS q"
        )

    return _prepared(("each", sql), lateral), (each.keys,)


def _serialize(serialize: st.Serialize) -> tuple[_Prepared, Sequence[Any]]:
    # Sorted, so two transactions locking overlapping keys cannot deadlock.
    keys = sorted(serialize.keys)
    if not serialize.shared:
        sql = (
            f"SELECT pg_advisory_xact_lock({LOCK_CLASS}, k)"
            " FROM (SELECT unnest(CAST($1 AS INTEGER[])) AS k ORDER BY k) AS s"
        )
        return _prepared("serialize", lambda: sql), (keys,)
    shared = (
        f"SELECT CASE WHEN k = ANY(CAST($2 AS INTEGER[]))"
        f" THEN pg_advisory_xact_lock_shared({LOCK_CLASS}, k)"
        f" ELSE pg_advisory_xact_lock({LOCK_CLASS}, k) END"
        " FROM (SELECT unnest(CAST($1 AS INTEGER[])) AS k ORDER BY k) AS s"
    )
    return _prepared("serialize_shared", lambda: shared), (keys, sorted(serialize.shared))


def _insert(insert: st.InsertRows, *, one: bool) -> _Prepared:
    """One row as values; several as one array a column, unnested: one statement either way."""
    table = insert.table
    key = ("insert", table.name, table.names(), one, insert.conflict, insert.returning)

    def build() -> str:
        numbered = enumerate(table.columns, 1)
        if one:
            rows = "VALUES (" + ", ".join(f"${n}" for n, _ in numbered) + ")"
        else:
            arrays = ", ".join(
                f"CAST(${n} AS {_STORED_AS.get(column.type, column.type)}[])"
                for n, column in numbered
            )
            rows = f"SELECT * FROM unnest({arrays})"
        returning = f" RETURNING {insert.returning}" if insert.returning else ""
        return f"INSERT INTO {table.name} ({table.names()}) {rows} {insert.conflict}{returning}"

    return _prepared(key, build)


def _lock(lock: st.LockRows) -> tuple[_Prepared, Sequence[Any]]:
    table, column = lock.table, lock.key
    if len(lock.values) == 1:
        sql = f"SELECT 1 FROM {table} WHERE {column} = $1 FOR UPDATE"
        return _prepared(("lock", table, column), lambda: sql), lock.values
    # Sorted, so two transactions locking overlapping rows cannot deadlock.
    sql = (
        f"SELECT 1 FROM {table} WHERE {column} = ANY(CAST($1 AS TEXT[]))"
        f" ORDER BY {column} FOR UPDATE"
    )
    return _prepared(("lock many", table, column), lambda: sql), (sorted(lock.values),)


def _expect(query: st.Query, rows: int) -> str:
    n = query.sql.count("?") + 1
    # A write counts the rows it changed: what it returns, once it returns something.
    changes = "" if query.sql.lstrip()[:6].upper() == "SELECT" else " RETURNING 1"
    return (
        f"WITH s AS ({_numbered(query.sql)}{changes}) SELECT CASE WHEN count(*) = {rows} THEN 0"
        f" ELSE CAST('{_EXPECT_MARK}' || CAST(${n} AS TEXT) || ':' || count(*) AS INTEGER) END"
        " FROM s"
    )


def _expect_either(query: st.Query, otherwise: st.Query, rows: int) -> str:
    # `otherwise` sees the snapshot `query` saw, so it must leave alone a row `query` changed:
    # it runs only when `query` changed none (its subquery on `a` runs `a` to the end first).
    either = (
        f"WITH a AS ({query.sql} RETURNING 1),"
        f" b AS ({otherwise.sql} AND NOT EXISTS (SELECT 1 FROM a) RETURNING 1),"
        " n AS (SELECT (SELECT count(*) FROM a) + (SELECT count(*) FROM b) AS n)"
        f" SELECT CASE WHEN n = {rows} THEN 0"
        f" ELSE CAST('{_EXPECT_MARK}' || CAST(? AS TEXT) || ':' || n AS INTEGER) END FROM n"
    )
    return _numbered(either)


@dataclass
class Message:
    """One simple query: its statements, and where to find what the rules read."""

    parts: list[str]
    reads: dict[int, int] = field(default_factory=dict)
    """Position of a result in the message -> index of the statement that wants it."""
    expects: list[tuple[Any, st.Expect]] = field(default_factory=list)
    """Each `Expect` in the message, in order, with the rule it belongs to (its owner)."""
    to_prepare: list[_Prepared] = field(default_factory=list)


class Effects(Protocol):
    """Where what a rule asks for after its commit is kept: a wake-up, its notes."""

    woke: bool
    notes: list[st.Note]


class ExpectFailed(Exception):
    """An `Expect` of a message found other rows than it expects: the transaction is aborted
    (back to the last savepoint, if any, it is usable again)."""

    def __init__(self, owner: Any, expect: st.Expect) -> None:
        super().__init__(owner, expect)
        self.owner = owner
        self.expect = expect


def wants(statement: st.Statement) -> bool:
    if isinstance(statement, st.Query):
        return statement.want is not st.Want.NOTHING
    if isinstance(statement, st.FetchEach):
        return True
    return isinstance(statement, st.InsertRows) and statement.returning is not None


class Session:
    """One connection, and the statements prepared on it; with `prepare` off (a connection
    through a transaction-mode pooler, which may hand each transaction another server
    connection), statements go out as their text with the literals in place instead."""

    __slots__ = ("conn", "notes", "prepare", "prepared", "woke")

    def __init__(self, conn: AsyncConnection[TupleRow], *, prepare: bool = True) -> None:
        self.conn = conn
        self.prepare = prepare
        self.prepared: set[str] = set()
        self.woke = False
        self.notes: list[st.Note] = []

    async def drive(self, rule: st.Rule[T], *, transaction: bool) -> T:
        """Run `rule` to its end; see the module docstring for how statements are sent."""
        self.woke = False
        self.notes = []
        try:
            return await self._drive(rule, transaction)
        except BaseException:
            await self.abandon()
            raise

    async def _drive(self, rule: st.Rule[T], transaction: bool) -> T:
        pending: list[st.Statement] = []
        result: Any = None
        in_transaction = False
        while True:
            try:
                step = rule.send(result)
            except StopIteration as done:
                if pending or in_transaction:
                    await self._send(pending, begin=False, commit=in_transaction)
                value: T = done.value
                return value
            statements = step if isinstance(step, tuple) else (step,)
            if not any(wants(s) for s in statements):
                pending.extend(statements)
                result = (None,) * len(statements) if isinstance(step, tuple) else None
                continue
            begin = transaction and not in_transaction
            results = await self._send([*pending, *statements], begin=begin, commit=False)
            in_transaction = in_transaction or begin
            pending = []
            tail = results[len(results) - len(statements) :]
            result = tuple(tail) if isinstance(step, tuple) else tail[0]

    async def abandon(self) -> None:
        """End a transaction the rule left open; a broken connection is left to the pool."""
        status = self.conn.info.transaction_status
        if status in (psycopg.pq.TransactionStatus.INTRANS, psycopg.pq.TransactionStatus.INERROR):
            with contextlib.suppress(psycopg.Error):
                await self.conn.execute(b"ROLLBACK")

    async def _send(
        self, statements: list[st.Statement], *, begin: bool, commit: bool
    ) -> list[Any]:
        """Send `statements` in one message; return each one's result (`None` if unread)."""
        message = Message(parts=["BEGIN"] if begin else [])
        for index, statement in enumerate(statements):
            self.add(message, statement, index, effects=self)
        if commit:
            message.parts.append("COMMIT")
        try:
            return await self.execute(message, statements)
        except ExpectFailed as failed:
            raise failed.expect.error() from None

    def add(
        self,
        message: Message,
        statement: st.Statement,
        index: int,
        *,
        effects: Effects,
        owner: Any = None,
    ) -> None:
        """Add `statement` (the `index`th of those `execute` will be given) to `message`; a
        wake-up or a note it asks for goes to `effects`."""
        if statement is st.WAKE:
            effects.woke = True
            return
        if isinstance(statement, st.Note):
            effects.notes.append(statement)
            return
        rendered = _render(statement, len(message.expects))
        if rendered is None:
            return
        prepared, params = rendered
        if isinstance(statement, st.Expect):
            message.expects.append((owner, statement))
        if wants(statement):
            message.reads[len(message.parts)] = index
        if not self.prepare:
            message.parts.append(_inline(prepared.sql, params))
            return
        if prepared.name not in self.prepared and prepared not in message.to_prepare:
            message.to_prepare.append(prepared)
        arguments = f"({', '.join(map(literal, params))})" if params else ""
        message.parts.append(f"EXECUTE {prepared.name}{arguments}")

    async def execute(self, message: Message, statements: Sequence[st.Statement]) -> list[Any]:
        """Send `message` (made of `statements` by `add`, and raw parts) as one query; return
        each statement's result (`None` if unread).

        Raises:
            ExpectFailed: An `Expect` failed (which one, and whose).
            psycopg.Error: Any other failure.
        """
        results: list[Any] = [[] if wants(s) else None for s in statements]
        if message.to_prepare:
            await self._prepare(message.to_prepare)
        if not message.parts:
            return results
        try:
            cursor = await self.conn.execute(";".join(message.parts).encode())
        except psycopg.Error as exc:
            failed = _EXPECT_FAILED.search(str(exc))
            if failed is not None and int(failed.group(1)) < len(message.expects):
                raise ExpectFailed(*message.expects[int(failed.group(1))]) from None
            raise
        reads = dict(message.reads)
        position = 0
        while reads:
            index = reads.pop(position, None)
            if index is not None:
                results[index] = await _result(cursor, statements[index])
            position += 1
            if not cursor.nextset():
                break
        return results

    async def _prepare(self, statements: list[_Prepared]) -> None:
        text = ";".join(f"PREPARE {p.name} AS {p.sql}" for p in statements)
        try:
            await self.conn.execute(text.encode())
        except psycopg.Error:
            # PREPARE outlives a failed transaction: start over rather than guess which did.
            self.prepared.clear()
            if self.conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
                await self.conn.execute(b"DEALLOCATE ALL")
            raise
        self.prepared.update(p.name for p in statements)


_PARAMETER = re.compile(r"\$(\d+)")


def _inline(sql: str, params: Sequence[Any]) -> str:
    """`sql` with each ``$n`` replaced by the literal of its parameter (Surge's statements
    hold no ``$`` of their own)."""
    return _PARAMETER.sub(lambda match: literal(params[int(match.group(1)) - 1]), sql)


async def _result(cursor: psycopg.AsyncCursor[TupleRow], statement: st.Statement) -> Any:
    if isinstance(statement, st.InsertRows):
        return [row[0] for row in await cursor.fetchall()]
    if isinstance(statement, st.FetchEach):
        return await cursor.fetchall()
    assert isinstance(statement, st.Query)
    if statement.want is st.Want.ROWS:
        return await cursor.fetchall()
    if statement.want is st.Want.ONE:
        return await cursor.fetchone()
    return cursor.rowcount
