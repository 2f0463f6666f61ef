"""What only the PostgreSQL backend promises: several nodes sharing one database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import psycopg
import pytest
from storage_kit import Kit, now

from surge.core.errors import StorageUnavailable
from surge.core.ids import new_ulid
from surge.storage import (
    Commit,
    Memo,
    Pause,
    PauseKind,
    RunStatus,
    RunUpdate,
    Storage,
    Then,
    WorkItem,
    WorkKind,
    open_storage,
)
from surge.storage.migrations import load_migrations
from surge.storage.postgres import PostgresConnector
from surge.storage.postgres.migrations import LOCK_CLASS
from surge.storage.rules import pauses
from surge.storage.rules.commit import commit
from surge.storage.statements import Rule, fetch

pytestmark = pytest.mark.postgres

OpenNode = Callable[[], Awaitable[Storage]]


@pytest.fixture
async def open_node(postgres_url: str) -> AsyncIterator[OpenNode]:
    """Opens one more storage ("node") on the test's database; closes them all."""
    opened: list[Storage] = []

    async def open_one() -> Storage:
        storage = open_storage(postgres_url)
        await storage.open(now=now())
        opened.append(storage)
        return storage

    yield open_one
    for storage in opened:
        await storage.close()


def _wake_counter(store: Storage) -> tuple[list[int], asyncio.Event]:
    calls: list[int] = []
    woken = asyncio.Event()

    def listener() -> None:
        calls.append(1)
        woken.set()

    store.add_wake_listener(listener)
    return calls, woken


def _terminate_other_sessions(postgres_url: str) -> int:
    """Kill every other connection to the test's database, as a server restart would."""
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return len(rows)


async def test_open_storage_picks_postgres_by_scheme(postgres_url: str) -> None:
    for url in (postgres_url, postgres_url.replace("postgresql://", "postgres://", 1)):
        storage = open_storage(url)
        assert storage.dialect == "postgres"
        await storage.open(now=now())
        assert (await storage.registry_state()).apps == []
        await storage.close()


async def test_a_commit_on_one_node_wakes_the_other(open_node: OpenNode) -> None:
    a, b = await open_node(), await open_node()
    a_calls, _ = _wake_counter(a)
    b_calls, b_woken = _wake_counter(b)

    await Kit(a).start_run()

    await asyncio.wait_for(b_woken.wait(), timeout=1.0)
    await asyncio.sleep(0.2)  # A's own notification must not wake A a second time
    assert a_calls == [1]
    assert b_calls == [1]


async def test_nothing_wakes_the_other_node_without_new_work(open_node: OpenNode) -> None:
    a, b = await open_node(), await open_node()
    kit = Kit(a)
    await kit.start_run()
    b_calls, _ = _wake_counter(b)
    await asyncio.sleep(0.2)
    b_calls.clear()

    [item] = await kit.lease_all()
    await a.list_runs()
    await kit.finish(item, "a")  # no enqueue, no discovery

    await asyncio.sleep(0.3)
    assert b_calls == []


async def test_two_nodes_leasing_at_once_never_share_an_item(open_node: OpenNode) -> None:
    a, b = await open_node(), await open_node()
    kit = Kit(a)
    await a.ingest([kit.entry() for _ in range(600)])

    async def drain(store: Storage) -> list[WorkItem]:
        got: list[WorkItem] = []
        while batch := await store.lease_due(now=now(), limit=7, lease_ms=60_000):
            got.extend(batch)
        return got

    results = await asyncio.gather(*(drain(store) for store in (a, b, a, b)))

    ids = [item.id for batch in results for item in batch]
    assert len(ids) == 600
    assert len(set(ids)) == 600
    assert all(results), "every leaser got a share"


async def test_parallel_steps_committed_on_two_nodes_discover_once(open_node: OpenNode) -> None:
    a, b = await open_node(), await open_node()
    kit = Kit(a)
    run_ids = [await kit.start_run() for _ in range(40)]
    discoveries = {i.run_id: i for i in await kit.lease_all()}
    await asyncio.gather(
        *(
            a.commit(
                Commit(
                    at=now(),
                    item=discoveries[r],
                    enqueue=[kit.step(r, "left"), kit.step(r, "right")],
                )
            )
            for r in run_ids
        )
    )
    steps = {(i.run_id, i.step_id): i for i in await kit.lease_all()}

    def finish(store: Storage, run_id: str, step: str) -> Awaitable[None]:
        memo = Memo(step_id=step, outcome={"data": step})
        item = steps[(run_id, step)]
        return store.commit(Commit(at=now(), item=item, memos=[memo], then=Then.DISCOVER_IF_IDLE))

    await asyncio.gather(
        *(finish(a, r, "left") for r in run_ids), *(finish(b, r, "right") for r in run_ids)
    )

    after = await kit.lease_all()
    assert sorted((i.run_id or "", i.step_id) for i in after) == sorted(
        (r, "step") for r in run_ids
    )
    for run_id in run_ids:
        memos = await kit.memo_ids(run_id)
        assert sorted(memos) == ["left", "right"]


async def test_a_step_committing_while_another_is_mid_commit_waits_for_it(
    open_node: OpenNode, postgres_url: str
) -> None:
    """The race `Then.DISCOVER_IF_IDLE` must survive, made certain instead of likely.

    Node A's commit of the left step is held open inside its transaction (as a slow node's
    would be) while node B commits the right step. B must wait for A; otherwise each sees the
    other's item still queued and neither queues the discovery: the run would be stuck.
    """
    b = await open_node()
    slow_node = PostgresConnector(postgres_url)
    await slow_node.open(now=now())
    a = Storage(slow_node)
    try:
        kit = Kit(a)
        run_id = await kit.start_run()
        discovery = await kit.lease_one(run_id)
        await a.commit(
            Commit(
                at=now(),
                item=discovery,
                enqueue=[kit.step(run_id, "left"), kit.step(run_id, "right")],
            )
        )
        steps = {i.step_id: i for i in await kit.lease_all()}

        def step_commit(step: str) -> Commit:
            memo = Memo(step_id=step, outcome={"data": step})
            return Commit(at=now(), item=steps[step], memos=[memo], then=Then.DISCOVER_IF_IDLE)

        def slow_commit() -> Rule[None]:
            yield from commit(step_commit("left"))
            yield fetch("SELECT pg_sleep(1.5)")  # still inside the commit's transaction

        left = asyncio.create_task(slow_node.run(slow_commit))
        await asyncio.sleep(0.5)
        right = asyncio.create_task(b.commit(step_commit("right")))
        await asyncio.sleep(0.5)
        assert not left.done(), "A's commit ended before B's began: the test proves nothing"
        assert not right.done(), "B committed while A's commit of the same run was in flight"
        await asyncio.wait_for(asyncio.gather(left, right), timeout=5)

        assert [(i.run_id, i.step_id) for i in await kit.lease_all()] == [(run_id, "step")]
        assert await kit.memo_ids(run_id) == ["left", "right"]
    finally:
        await a.close()


@pytest.mark.parametrize("ended", [False, True], ids=["running", "ended meanwhile"])
async def test_a_commit_that_updates_its_run_holds_the_run_s_row(
    postgres_url: str, ended: bool
) -> None:
    """The run's update takes the row lock the commit would otherwise take on its own
    (`LockRows`), so the run's writers still go one at a time: also when the run was cancelled
    while the call was in flight, and the update leaves it as it ended."""
    node = PostgresConnector(postgres_url)
    await node.open(now=now())
    store = Storage(node)
    try:
        kit = Kit(store)
        run_id = await kit.start_run()
        item = await kit.lease_one(run_id)
        if ended:
            cancelled = await store.cancel_run(run_id, at=now())
            assert cancelled.status is RunStatus.CANCELLED
        memo = Memo(step_id="a", outcome={"data": 1})
        update = RunUpdate(request_version=7)

        def slow_commit() -> Rule[None]:
            yield from commit(Commit(at=now(), item=item, memos=[memo], run_update=update))
            yield fetch("SELECT pg_sleep(1)")  # still inside the commit's transaction

        committing = asyncio.create_task(node.run(slow_commit))
        await asyncio.sleep(0.4)
        assert not committing.done()
        async with await psycopg.AsyncConnection.connect(postgres_url) as other:
            with pytest.raises(psycopg.errors.LockNotAvailable):
                await other.execute("SELECT 1 FROM runs WHERE id = %s FOR UPDATE NOWAIT", (run_id,))
        await asyncio.wait_for(committing, 5)

        run = await store.get_run(run_id)
        assert run.request_version == (-1 if ended else 7)
        assert run.status is (RunStatus.CANCELLED if ended else RunStatus.RUNNING)
        assert await kit.memo_ids(run_id) == ["a"]
    finally:
        await store.close()


async def test_a_heartbeat_skips_an_item_whose_commit_holds_it_locked(
    open_node: OpenNode, postgres_url: str
) -> None:
    # Waiting for the commit's lock could deadlock the heartbeat with a group of commits that
    # locks the same items in another order; the commit deletes or rewrites the item anyway.
    store = await open_node()
    kit = Kit(store)
    await kit.start_run()
    await kit.start_run()
    t = now()
    held, free = await store.lease_due(now=t, limit=10, lease_ms=1_000)
    async with await psycopg.AsyncConnection.connect(postgres_url) as other:
        async with other.transaction():
            await other.execute("SELECT 1 FROM work_items WHERE id = %s FOR UPDATE", (held.id,))
            await asyncio.wait_for(store.extend_leases([held, free], until=t + 60_000), 10)

    lapsed = await store.lease_due(now=t + 1_000, limit=10, lease_ms=1_000)

    assert [item.id for item in lapsed] == [held.id]  # only the free one was renewed


async def test_nodes_starting_at_once_migrate_once(postgres_url: str) -> None:
    nodes = [open_storage(postgres_url) for _ in range(4)]

    await asyncio.gather(*(node.open(now=now()) for node in nodes))

    with psycopg.connect(postgres_url) as check:
        versions = check.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()
    assert [v for (v,) in versions] == [m.version for m in load_migrations("postgres")]
    run_id = await Kit(nodes[0]).start_run()
    assert (await nodes[3].get_run(run_id)).id == run_id
    for node in nodes:
        await node.close()


async def test_operations_survive_dropped_connections(
    open_node: OpenNode, postgres_url: str
) -> None:
    a, b = await open_node(), await open_node()
    kit = Kit(a)
    run_id = await kit.start_run()
    await b.list_runs()  # both nodes hold pooled connections now
    b_calls, b_woken = _wake_counter(b)

    assert _terminate_other_sessions(postgres_url) >= 4  # pools and listeners

    item = await kit.lease_one(run_id)
    await kit.finish(item, "a", then=Then.DISCOVER)
    assert await kit.memo_ids(run_id) == ["a"]
    # B's listener reconnects and wakes; B's own pool reconnects on its next call.
    await asyncio.wait_for(b_woken.wait(), timeout=5.0)
    assert b_calls
    assert [i.step_id for i in await b.lease_due(now=now(), limit=10, lease_ms=1000)] == ["step"]


async def test_unreachable_server_is_reported_as_unavailable() -> None:
    storage = open_storage("postgresql://postgres@127.0.0.1:1/surge?connect_timeout=2")

    with pytest.raises(StorageUnavailable):
        await storage.open(now=now())


async def _while_name_is_locked(
    postgres_url: str, name: str, *, shared: bool, operation: Awaitable[object]
) -> None:
    """Run `operation` while another session holds the advisory lock of event `name`: it
    must not finish until the lock is released."""
    lock = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    [key] = pauses.name_locks(arriving=[name]).keys
    async with await psycopg.AsyncConnection.connect(postgres_url) as other:
        await other.execute(f"SELECT {lock}(%s, %s)", (LOCK_CLASS, key))
        task = asyncio.ensure_future(operation)
        await asyncio.sleep(0.3)
        assert not task.done(), "it went ahead while the other session held the lock"
        await other.rollback()
        await asyncio.wait_for(task, timeout=10)


async def test_a_pause_and_an_ingest_of_its_event_name_never_interleave(
    open_node: OpenNode, postgres_url: str
) -> None:
    # A pause is stored under the exclusive lock of its event's name, an ingest reads the
    # pauses' index under the shared one: whichever commits second sees the other.
    store = await open_node()
    kit = Kit(store)
    await kit.start_run()
    [call] = await kit.lease_all()
    at = kit.tick()
    wait = Pause(
        id=new_ulid(at),
        run_id=call.run_id or "",
        step_id="wait",
        kind=PauseKind.WAIT,
        event_name="test/approved",
        expression=None,
        match_key=None,
        created_at=at,
        expires_at=None,
    )
    stored = store.commit(Commit(at=now(), item=call, pauses=[wait]))
    await _while_name_is_locked(postgres_url, wait.event_name, shared=True, operation=stored)

    event = kit.event(name=wait.event_name)
    ingested = store.ingest([kit.entry(event, runs=0)])
    await _while_name_is_locked(postgres_url, wait.event_name, shared=False, operation=ingested)
    matches = [i for i in await kit.lease_all() if i.kind is WorkKind.MATCH]
    assert [i.payload for i in matches] == [{"events": [event.internal_id]}]

    # Ingests of one name do not wait for each other.
    other = store.ingest([kit.entry(kit.event(name=wait.event_name), runs=0)])
    async with await psycopg.AsyncConnection.connect(postgres_url) as holder:
        [key] = pauses.name_locks(arriving=[wait.event_name]).keys
        await holder.execute("SELECT pg_advisory_xact_lock_shared(%s, %s)", (LOCK_CLASS, key))
        await asyncio.wait_for(other, timeout=10)
