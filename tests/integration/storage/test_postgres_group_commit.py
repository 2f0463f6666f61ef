"""PostgreSQL group commit: the rules a node has waiting commit together, each on its own.

Each test holds the node's one group runner busy with a slow rule, so the rules sent meanwhile
wait and then run as one group; `txid_current()` shows which ran in one transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import psycopg
import pytest
from storage_kit import now

from surge.core.errors import StorageError
from surge.storage.postgres import PostgresConnector
from surge.storage.statements import WAKE, Expect, Note, Rule, execute, fetch, fetch_one

pytestmark = pytest.mark.postgres


class NotFound(Exception):
    """An `Expect`'s error in these tests."""


class Refused(Exception):
    """A rule's own error, raised after it read a result."""


@pytest.fixture
async def node(postgres_url: str) -> AsyncIterator[PostgresConnector]:
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("CREATE TABLE scratch (name TEXT PRIMARY KEY, seen TEXT)")
    connector = PostgresConnector(postgres_url)
    await connector.open(now=now())
    try:
        yield connector
    finally:
        await connector.close()


def insert(name: str, *, txid: bool = True) -> Callable[[], Rule[int | None]]:
    """A rule that stores `name` and returns its transaction's id (read after the insert,
    so the statement before it is sent with it)."""

    def rule() -> Rule[int | None]:
        yield execute("INSERT INTO scratch (name) VALUES (?)", name)
        if not txid:
            return None
        row = yield fetch_one("SELECT txid_current()")
        return int(row[0])

    return rule


async def names(node: PostgresConnector) -> list[str]:
    def read() -> Rule[list[str]]:
        rows = yield fetch("SELECT name FROM scratch ORDER BY name")
        return [row[0] for row in rows]

    return await node.run(read, transaction=False)


async def behind_a_slow_rule(
    node: PostgresConnector, rules: list[Callable[[], Rule[object]]]
) -> list[object]:
    """Run `rules` at once while the group runner is busy: they make one group."""

    def slow() -> Rule[None]:
        yield fetch("SELECT pg_sleep(0.3)")

    first = asyncio.ensure_future(node.run(slow))
    await asyncio.sleep(0.05)
    assert not first.done()
    outcomes = await asyncio.gather(*(node.run(rule) for rule in rules), return_exceptions=True)
    await first
    return list(outcomes)


async def test_rules_waiting_at_once_commit_in_one_transaction(node: PostgresConnector) -> None:
    outcomes = await behind_a_slow_rule(node, [insert(f"r{i}") for i in range(20)])

    assert len(set(outcomes)) == 1, outcomes  # one transaction id: one group, one commit
    assert await names(node) == sorted(f"r{i}" for i in range(20))


async def test_a_rule_whose_expect_fails_changes_nothing_and_the_others_commit(
    node: PostgresConnector,
) -> None:
    def missing() -> Rule[None]:
        yield execute("INSERT INTO scratch (name) VALUES ('doomed')")
        yield Expect(fetch_one("SELECT 1 FROM scratch WHERE name = 'nobody'"), 1, NotFound)

    # The failing rule reads nothing: its statements go out with those of the rules around it.
    rules = [insert("a", txid=False), missing, insert("b", txid=False), insert("c")]
    outcomes = await behind_a_slow_rule(node, rules)

    assert outcomes[:3] == [None, outcomes[1], None]
    assert isinstance(outcomes[1], NotFound)
    assert isinstance(outcomes[3], int)
    assert await names(node) == ["a", "b", "c"]


async def xmins(node: PostgresConnector) -> dict[str, int]:
    """The id of the transaction, or subtransaction, that wrote each row."""

    def read() -> Rule[dict[str, int]]:
        rows = yield fetch("SELECT name, CAST(CAST(xmin AS TEXT) AS BIGINT) FROM scratch")
        return {row[0]: row[1] for row in rows}

    return await node.run(read, transaction=False)


def counted(
    rule: Callable[[], Rule[object]], runs: list[str], name: str
) -> Callable[[], Rule[object]]:
    def factory() -> Rule[object]:
        runs.append(name)
        return rule()

    return factory


async def test_a_group_without_failures_takes_no_savepoints(node: PostgresConnector) -> None:
    outcomes = await behind_a_slow_rule(node, [insert(f"r{i}") for i in range(5)])

    # Rows written inside a savepoint carry its subtransaction's id, not the group's.
    group_xid = int(outcomes[0]) % 2**32  # type: ignore[call-overload]
    assert set((await xmins(node)).values()) == {group_xid}


async def test_a_failing_rule_runs_its_group_again_with_a_savepoint_each(
    node: PostgresConnector,
) -> None:
    def missing() -> Rule[None]:
        yield execute("INSERT INTO scratch (name) VALUES ('doomed')")
        yield Expect(fetch_one("SELECT 1 FROM scratch WHERE name = 'nobody'"), 1, NotFound)

    runs: list[str] = []
    rules = [counted(insert("a"), runs, "a"), counted(missing, runs, "missing")]
    outcomes = await behind_a_slow_rule(node, [*rules, counted(insert("b"), runs, "b")])

    # The first try went as far as the message that failed (the `Expect` goes out with b's
    # read) and was rolled back. The second ran every rule again, each in a savepoint: at
    # the same failure it undid `missing` alone and ran b again from its start.
    assert runs == ["a", "missing", "b", "a", "missing", "b", "b"]
    assert isinstance(outcomes[1], NotFound)
    assert outcomes[0] == outcomes[2]
    written = await xmins(node)
    assert sorted(written) == ["a", "b"]
    group_xid = int(outcomes[0]) % 2**32  # type: ignore[call-overload]
    assert group_xid not in written.values()  # each row was written in its own savepoint
    assert written["a"] != written["b"]


async def test_a_rule_reads_what_the_rules_before_it_in_its_group_wrote(
    node: PostgresConnector,
) -> None:
    def reader() -> Rule[list[str]]:
        rows = yield fetch("SELECT name FROM scratch ORDER BY name")
        yield execute("UPDATE scratch SET seen = 'yes'")
        return [row[0] for row in rows]

    outcomes = await behind_a_slow_rule(node, [insert("a"), reader, insert("b")])

    assert outcomes[1] == ["a"]
    assert outcomes[0] == outcomes[2]

    def seen() -> Rule[list[tuple[str, str | None]]]:
        rows = yield fetch("SELECT name, seen FROM scratch ORDER BY name")
        return [tuple(row) for row in rows]

    assert await node.run(seen, transaction=False) == [("a", "yes"), ("b", None)]


async def test_a_rule_that_raises_after_reading_is_undone_alone(node: PostgresConnector) -> None:
    def refusing() -> Rule[None]:
        yield execute("INSERT INTO scratch (name) VALUES ('refused')")
        yield fetch_one("SELECT 1")
        raise Refused()

    outcomes = await behind_a_slow_rule(node, [insert("a"), refusing, insert("b")])

    assert isinstance(outcomes[1], Refused)
    assert outcomes[0] == outcomes[2]
    assert await names(node) == ["a", "b"]


async def test_a_database_error_in_one_rule_fails_that_rule_alone(
    node: PostgresConnector,
) -> None:
    await node.run(insert("taken", txid=False))

    outcomes = await behind_a_slow_rule(
        node, [insert("a"), insert("taken"), insert("b", txid=False)]
    )

    # The group failed as a whole and its rules ran again one by one.
    assert isinstance(outcomes[0], int)
    assert isinstance(outcomes[1], StorageError)
    assert "duplicate key" in str(outcomes[1])
    assert outcomes[2] is None
    assert await names(node) == ["a", "b", "taken"]


async def test_only_committed_rules_wake_the_node_and_tell_their_notes(
    node: PostgresConnector,
) -> None:
    told: list[str] = []
    node.add_note_listener(lambda notes: told.extend(note.what for note in notes))

    def noted(what: str, *, fail: bool) -> Callable[[], Rule[None]]:
        def rule() -> Rule[None]:
            yield execute("INSERT INTO scratch (name) VALUES (?)", what)
            yield Note(what)
            if fail:
                yield Expect(fetch_one("SELECT 1 WHERE FALSE"), 1, NotFound)

        return rule

    outcomes = await behind_a_slow_rule(
        node, [noted("kept", fail=False), noted("dropped", fail=True), noted("also", fail=False)]
    )

    assert isinstance(outcomes[1], NotFound)
    assert sorted(told) == ["also", "kept"]

    woken: list[int] = []
    node.add_wake_listener(lambda: woken.append(1))

    def wakes() -> Rule[None]:
        yield WAKE
        yield Expect(fetch_one("SELECT 1 WHERE FALSE"), 1, NotFound)

    outcomes = await behind_a_slow_rule(node, [wakes, wakes])
    assert all(isinstance(outcome, NotFound) for outcome in outcomes)
    assert woken == []


# -- reads sharing a round trip (`storage/postgres/reads.py`) ------------------------------------


async def behind_slow_reads(
    node: PostgresConnector, rules: list[Callable[[], Rule[object]]]
) -> list[object]:
    """Read with `rules` at once while both read runners are busy: they make one batch."""

    def slow() -> Rule[None]:
        yield fetch("SELECT pg_sleep(0.3)")

    first = [asyncio.ensure_future(node.read(slow)) for _ in range(2)]
    await asyncio.sleep(0.05)
    assert not any(task.done() for task in first)
    outcomes = await asyncio.gather(*(node.read(rule) for rule in rules), return_exceptions=True)
    await asyncio.gather(*first)
    return list(outcomes)


def message_of(n: int) -> Callable[[], Rule[tuple[object, ...]]]:
    """A read of which message it came in (backend and time of receipt) and of `n`."""

    def rule() -> Rule[tuple[object, ...]]:
        sql = "SELECT pg_backend_pid(), statement_timestamp(), CAST(? AS INTEGER)"
        row = yield fetch_one(sql, n)
        return tuple(row)

    return rule


async def test_reads_waiting_at_once_share_one_message(node: PostgresConnector) -> None:
    outcomes = await behind_slow_reads(node, [message_of(n) for n in range(20)])

    assert [outcome[2] for outcome in outcomes] == list(range(20))  # type: ignore[index]
    assert len({outcome[:2] for outcome in outcomes}) == 1, outcomes  # type: ignore[index]


async def test_reads_of_several_steps_each_get_their_own_results(
    node: PostgresConnector,
) -> None:
    def twice(n: int) -> Callable[[], Rule[int]]:
        def rule() -> Rule[int]:
            first = yield fetch_one("SELECT ? + 1", n)
            second, same = yield (fetch_one("SELECT ? * 10", first[0]), fetch_one("SELECT 0"))
            return int(second[0]) + int(same[0])

        return rule

    def once(n: int) -> Callable[[], Rule[int]]:
        def rule() -> Rule[int]:
            row = yield fetch_one("SELECT ?", n)
            return int(row[0])

        return rule

    rules = [twice(n) if n % 2 else once(n) for n in range(10)]
    outcomes = await behind_slow_reads(node, rules)

    assert outcomes == [(n + 1) * 10 if n % 2 else n for n in range(10)]


async def test_a_failing_read_fails_alone(node: PostgresConnector) -> None:
    def broken() -> Rule[None]:
        yield fetch_one("SELECT 1 / (? - 1)", 1)

    def refusing() -> Rule[None]:
        yield fetch_one("SELECT 1")
        raise Refused()

    outcomes = await behind_slow_reads(
        node, [message_of(1), broken, message_of(2), refusing, message_of(3)]
    )

    assert isinstance(outcomes[1], StorageError)
    assert "division by zero" in str(outcomes[1])
    assert isinstance(outcomes[3], Refused)
    assert [outcomes[i][2] for i in (0, 2, 4)] == [1, 2, 3]  # type: ignore[index]


async def test_a_group_whose_connection_drops_commits_each_rule_once(
    node: PostgresConnector, postgres_url: str
) -> None:
    def sleepy() -> Rule[None]:
        yield execute("INSERT INTO scratch (name) VALUES ('sleepy')")
        yield fetch_one("SELECT pg_sleep(0.6)")

    async def drop_the_sleeper() -> int:
        await asyncio.sleep(0.5)  # the slow rule (0.3 s) is done, the group is in its sleep
        async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as admin:
            cursor = await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE wait_event = 'PgSleep' AND datname = current_database()"
            )
            return len(await cursor.fetchall())

    dropped = asyncio.ensure_future(drop_the_sleeper())
    outcomes = await behind_a_slow_rule(
        node, [insert("a", txid=False), sleepy, insert("b", txid=False)]
    )

    assert await dropped == 1, "the group was not in flight when its connection dropped"
    assert outcomes == [None, None, None]  # each ran again alone, on a new connection
    assert await names(node) == ["a", "b", "sleepy"]
