"""The work queue: leasing, committing, retries, discovery, enqueue, recovery."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest
from storage_kit import Kit, now

from surge.core.errors import StaleLease, StorageError
from surge.storage import (
    Commit,
    HistoryEntry,
    Memo,
    NewWorkItem,
    RunStatus,
    RunUpdate,
    Storage,
    Then,
    WorkKind,
)
from surge.storage.records import RunState
from surge.storage.rules import runs
from surge.storage.statements import Rule


async def test_new_run_gets_one_discovery_item_due_at_its_start(store: Storage, kit: Kit) -> None:
    entry = kit.entry()
    await store.ingest([entry])
    run = entry.runs[0]

    items = await kit.lease_all()

    assert [(i.kind, i.run_id, i.step_id, i.attempt) for i in items] == [
        (WorkKind.CALL, run.id, "step", 0)
    ]
    assert items[0].due_at == run.started_at


async def test_lease_order_is_due_time_then_priority(store: Storage, kit: Kit) -> None:
    at = kit.tick()
    await store.enqueue(
        [
            NewWorkItem(kind=WorkKind.CALL, run_id="r", step_id="late", due_at=at + 10),
            NewWorkItem(kind=WorkKind.CALL, run_id="r", step_id="low", due_at=at, priority=0),
            NewWorkItem(kind=WorkKind.CALL, run_id="r", step_id="high", due_at=at, priority=5),
            NewWorkItem(kind=WorkKind.CALL, run_id="r", step_id="future", due_at=at + 1000),
        ]
    )

    first = await store.lease_due(now=at + 10, limit=2, lease_ms=1000)
    rest = await store.lease_due(now=at + 10, limit=10, lease_ms=1000)

    assert [i.step_id for i in first] == ["high", "low"]
    assert [i.step_id for i in rest] == ["late"]


async def test_leased_item_is_hidden_until_lease_expires(store: Storage, kit: Kit) -> None:
    await kit.start_run()
    t = now()
    [first] = await store.lease_due(now=t, limit=10, lease_ms=5000)

    assert await store.lease_due(now=t + 4999, limit=10, lease_ms=5000) == []
    [again] = await store.lease_due(now=t + 5000, limit=10, lease_ms=5000)

    assert again.id == first.id
    assert again.lease_token != first.lease_token
    assert again.attempt == first.attempt


async def test_next_due_at_counts_leased_items(store: Storage, kit: Kit) -> None:
    assert await store.next_due_at() is None
    await kit.start_run()
    t = now()
    await store.lease_due(now=t, limit=10, lease_ms=7000)

    assert await store.next_due_at() == t + 7000


async def test_commit_removes_item_and_stores_memos(store: Storage, kit: Kit) -> None:
    run_id = await kit.start_run()
    item = await kit.lease_one(run_id)

    await kit.finish(item, "a")

    assert await store.next_due_at() is None
    state = await store.load_run_state(run_id)
    assert [(m.step_id, m.outcome) for m in state.memos] == [("a", {"data": "a"})]


async def test_a_lease_reads_the_state_of_each_run_whose_call_it_took(
    store: Storage, kit: Kit
) -> None:
    stepped = await kit.start_run()
    await kit.finish(await kit.lease_one(stepped), "b", then=Then.DISCOVER)
    await kit.finish(await kit.lease_one(stepped), "a", "c", then=Then.DISCOVER)
    fresh, napping = await kit.start_run(), await kit.start_run()
    [napping_call] = [i for i in await kit.lease_all() if i.run_id == napping]
    await kit.finish(napping_call)
    wake = NewWorkItem(kind=WorkKind.WAKE, run_id=napping, step_id="nap", due_at=kit.tick())
    await store.enqueue([wake])

    # The leases taken above lapse: every item is due.
    leased = await store.lease(now=now() + 61_000, limit=10, lease_ms=60_000)

    assert {(i.kind, i.run_id) for i in leased.items} == {
        (WorkKind.CALL, stepped),
        (WorkKind.CALL, fresh),
        (WorkKind.WAKE, napping),
    }
    assert leased.states == {
        stepped: await store.load_run_state(stepped),
        fresh: await store.load_run_state(fresh),
    }
    assert [m.step_id for m in leased.states[stepped].memos] == ["b", "a", "c"]


async def test_a_lease_whose_state_read_fails_still_hands_out_its_items(
    store: Storage, kit: Kit, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    run_id = await kit.start_run()

    def unreadable(run_ids: Sequence[str]) -> Rule[dict[str, RunState]]:
        raise StorageError("the database went away mid-read")
        yield  # a rule

    monkeypatch.setattr(runs, "load_run_states", unreadable)

    leased = await store.lease(now=now(), limit=10, lease_ms=60_000)

    assert [i.run_id for i in leased.items] == [run_id]
    assert leased.states == {}  # the call reads its run itself
    assert "could not read the states of the runs just leased" in caplog.text
    assert await store.lease_due(now=now(), limit=10, lease_ms=60_000) == []  # still leased


async def test_a_discovery_call_s_row_becomes_its_run_s_next_discovery_call(
    store: Storage, kit: Kit
) -> None:
    # One write of the queued row per step instead of a delete and an insert.
    run_id = await kit.start_run()
    first = await kit.lease_one(run_id)
    retry = Commit(at=now(), item=first, retry_at=now())
    await store.commit(retry)
    retried = await kit.lease_one(run_id)

    await kit.finish(retried, "a", then=Then.DISCOVER_IF_IDLE)

    [following] = await kit.lease_all()
    assert (retried.id, retried.attempt) == (first.id, 1)
    assert (following.id, following.step_id, following.attempt) == (first.id, "step", 0)
    assert following.lease_token != retried.lease_token
    await kit.finish(following, "b")
    assert await kit.memo_ids(run_id) == ["a", "b"]
    assert await kit.lease_all() == []


@pytest.mark.parametrize("then", [Then.DISCOVER, Then.DISCOVER_IF_IDLE, Then.NOTHING])
async def test_stale_lease_commit_raises_and_changes_nothing(
    store: Storage, kit: Kit, then: Then
) -> None:
    run_id = await kit.start_run()
    t = now()
    [old] = await store.lease_due(now=t, limit=10, lease_ms=1000)
    [new] = await store.lease_due(now=t + 1000, limit=10, lease_ms=60_000)
    stale = Commit(
        at=now(),
        item=old,
        memos=[Memo(step_id="a", outcome={"data": 1})],
        run_update=RunUpdate(status=RunStatus.COMPLETED, ended_at=t, output="done"),
        enqueue=[kit.step(run_id, "b")],
        events=[kit.entry()],
        history=[HistoryEntry(run_id=run_id, at=t, kind="step.completed")],
        then=then,
    )

    with pytest.raises(StaleLease):
        await store.commit(stale)

    state = await store.load_run_state(run_id)
    assert state.memos == []
    assert state.run.status is RunStatus.RUNNING
    assert len(await store.list_events()) == 1
    assert await store.run_history(run_id) == []
    assert await store.lease_due(now=t + 1000, limit=10, lease_ms=1000) == []
    await kit.finish(new, "a")  # the current holder still completes it
    assert await kit.memo_ids(run_id) == ["a"]


AWKWARD = ["", "NULL", 'say "hi"', "back\\slash", "{x,y}", " pad ", "é😀\n\t", '\\"']


async def test_awkward_text_survives_a_commit(store: Storage, kit: Kit) -> None:
    run_id = await kit.start_run()
    item = await kit.lease_one(run_id)
    finished = kit.event(name="test/finished", data={"s": AWKWARD})
    memos = [
        Memo(step_id=f"s{i}{text}", outcome={"data": text}, name=text, op="StepRun")
        for i, text in enumerate(AWKWARD)
    ]
    history = [HistoryEntry(run_id=run_id, at=now(), kind="step", detail={"all": AWKWARD})]

    await store.commit(
        Commit(
            at=now(),
            item=item,
            memos=memos,
            run_update=RunUpdate(status=RunStatus.COMPLETED, ended_at=now(), output=AWKWARD),
            events=[kit.entry(finished, runs=0)],  # a plain insert, as a run's finished event
            history=history,
        )
    )

    state = await store.load_run_state(run_id)
    assert state.memos == [
        Memo(step_id=m.step_id, outcome=m.outcome, name=m.name, op=m.op) for m in memos
    ]
    assert state.run.output == AWKWARD
    assert (await store.get_event(finished.internal_id)).payload["data"] == {"s": AWKWARD}
    assert [h.detail for h in await store.run_history(run_id)][-1] == {"all": AWKWARD}


async def test_a_stale_commit_stores_none_of_its_events(store: Storage, kit: Kit) -> None:
    await kit.start_run()
    t = now()
    [old] = await store.lease_due(now=t, limit=10, lease_ms=1000)
    await store.lease_due(now=t + 1000, limit=10, lease_ms=60_000)  # another node took it
    finished = kit.event(name="test/finished")

    with pytest.raises(StaleLease):
        await store.commit(Commit(at=now(), item=old, events=[kit.entry(finished, runs=0)]))

    assert [e.name for e in await store.list_events()] == ["test/event"]


async def test_committed_item_cannot_be_committed_twice(store: Storage, kit: Kit) -> None:
    run_id = await kit.start_run()
    item = await kit.lease_one(run_id)
    await kit.finish(item, "a")

    with pytest.raises(StaleLease):
        await kit.finish(item, "b")
    assert await kit.memo_ids(run_id) == ["a"]


async def test_retry_keeps_item_with_next_attempt(store: Storage, kit: Kit) -> None:
    run_id = await kit.start_run()
    item = await kit.lease_one(run_id)
    retry_at = now() + 30_000

    await store.commit(Commit(at=now(), item=item, retry_at=retry_at))

    assert await store.next_due_at() == retry_at
    assert await store.lease_due(now=retry_at - 1, limit=10, lease_ms=1000) == []
    [again] = await store.lease_due(now=retry_at, limit=10, lease_ms=1000)
    assert (again.id, again.attempt, again.due_at) == (item.id, item.attempt + 1, retry_at)
    with pytest.raises(StaleLease):
        await store.commit(Commit(at=now(), item=item))


async def test_memoized_step_is_never_stored_twice(store: Storage, kit: Kit) -> None:
    run_id = await kit.start_run()
    await store.enqueue([kit.step(run_id, "a"), kit.step(run_id, "b")])
    items = {i.step_id: i for i in await kit.lease_all()}

    await kit.finish(items["step"], "a")
    await store.commit(
        Commit(
            at=now(),
            item=items["a"],
            memos=[
                Memo(step_id="a", outcome={"data": "second"}),
                Memo(step_id="b", outcome={"data": "b"}),
            ],
        )
    )
    await kit.finish(items["b"], "c")

    memos = (await store.load_run_state(run_id)).memos
    assert [(m.step_id, m.outcome) for m in memos] == [
        ("a", {"data": "a"}),
        ("b", {"data": "b"}),
        ("c", {"data": "c"}),
    ]


async def test_memos_keep_name_op_and_time(store: Storage, kit: Kit) -> None:
    run_id = await kit.start_run()
    item = await kit.lease_one(run_id)
    memo = Memo(step_id="h1", outcome={"error": {"message": "x"}}, name="pay", op="Step", at=7)

    await store.commit(Commit(at=now(), item=item, memos=[memo]))

    assert (await store.load_run_state(run_id)).memos == [memo]


async def test_then_discover_enqueues_one_discovery(store: Storage, kit: Kit) -> None:
    run_id = await kit.start_run()
    await store.enqueue([kit.step(run_id, "a"), kit.step(run_id, "b")])
    items = {i.step_id: i for i in await kit.lease_all()}

    await kit.finish(items["step"])
    await kit.finish(items["a"], "a", then=Then.DISCOVER)
    await kit.finish(items["b"], "b", then=Then.DISCOVER)

    due = await kit.lease_all()
    assert [(i.run_id, i.step_id) for i in due] == [(run_id, "step")]


async def test_discover_if_idle_waits_for_the_last_parallel_step(store: Storage, kit: Kit) -> None:
    run_id = await kit.start_run()
    discovery = await kit.lease_one(run_id)
    await store.commit(
        Commit(at=now(), item=discovery, enqueue=[kit.step(run_id, "a"), kit.step(run_id, "b")])
    )
    items = {i.step_id: i for i in await kit.lease_all()}

    await kit.finish(items["a"], "a", then=Then.DISCOVER_IF_IDLE)
    assert await kit.lease_all() == []

    await kit.finish(items["b"], "b", then=Then.DISCOVER_IF_IDLE)
    assert [(i.run_id, i.step_id) for i in await kit.lease_all()] == [(run_id, "step")]


async def test_discover_if_idle_counts_items_enqueued_by_the_same_commit(
    store: Storage, kit: Kit
) -> None:
    run_id = await kit.start_run()
    item = await kit.lease_one(run_id)

    await store.commit(
        Commit(at=now(), item=item, enqueue=[kit.step(run_id, "next")], then=Then.DISCOVER_IF_IDLE)
    )

    assert [i.step_id for i in await kit.lease_all()] == ["next"]


async def test_discover_if_idle_ignores_the_runs_timeout_checks(store: Storage, kit: Kit) -> None:
    # A run with `timeouts` has a check queued until it ends; its steps go on meanwhile.
    run_id = await kit.start_run()
    check = NewWorkItem(
        kind=WorkKind.TIMEOUT,
        run_id=run_id,
        step_id="timeout:finish",
        due_at=now() + 3_600_000,
        payload={"timeout": "finish"},
    )
    await store.enqueue([check])
    item = await kit.lease_one(run_id)

    await kit.finish(item, "a", then=Then.DISCOVER_IF_IDLE)

    assert [(i.run_id, i.step_id) for i in await kit.lease_all()] == [(run_id, "step")]


async def test_discover_if_idle_ignores_other_runs(store: Storage, kit: Kit) -> None:
    run_a = await kit.start_run()
    run_b = await kit.start_run()
    items = {i.run_id: i for i in await kit.lease_all()}

    await kit.finish(items[run_a], "a", then=Then.DISCOVER_IF_IDLE)

    assert [i.run_id for i in await kit.lease_all()] == [run_a]
    assert items[run_b].run_id == run_b


async def test_enqueue_skips_existing_unique_keys(store: Storage, kit: Kit) -> None:
    at = kit.tick()
    keyed = NewWorkItem(kind=WorkKind.WAKE, run_id="r", step_id="s", due_at=at, unique_key="k")
    plain = NewWorkItem(kind=WorkKind.CALL, run_id="r", step_id="p", due_at=at)

    await store.enqueue([keyed, plain])
    await store.enqueue([keyed, plain])

    items = await kit.lease_all()
    assert sorted(i.step_id for i in items) == ["p", "p", "s"]
    assert [i.unique_key for i in items if i.step_id == "s"] == ["k"]


async def test_commit_enqueues_items_and_updates_run(store: Storage, kit: Kit) -> None:
    run_id = await kit.start_run()
    item = await kit.lease_one(run_id)
    wake = NewWorkItem(
        kind=WorkKind.WAKE, run_id=run_id, step_id="nap", due_at=kit.tick(), payload={"n": 1}
    )

    await store.commit(
        Commit(
            at=now(),
            item=item,
            run_update=RunUpdate(request_version=2, force_step_plan=True),
            enqueue=[wake],
        )
    )

    [leased] = await kit.lease_all()
    assert (leased.kind, leased.step_id, leased.payload) == (WorkKind.WAKE, "nap", {"n": 1})
    run = await store.get_run(run_id)
    assert (run.request_version, run.force_step_plan) == (2, True)


async def test_recover_single_node_frees_every_lease(store: Storage, kit: Kit) -> None:
    await kit.start_run()
    [held] = await kit.lease_all(lease_ms=3_600_000)

    await store.recover(single_node=False, now=now())
    assert await kit.lease_all() == []

    await store.recover(single_node=True, now=now())
    [again] = await kit.lease_all()
    assert again.id == held.id
    assert again.due_at <= now()


async def test_concurrent_commits_all_land(store: Storage, kit: Kit) -> None:
    entries = [kit.entry() for _ in range(100)]
    await store.ingest(entries)
    items = await kit.lease_all()
    assert len(items) == 100

    await asyncio.gather(*(kit.finish(item, f"s-{item.run_id}") for item in items))

    assert await store.next_due_at() is None
    for entry in entries:
        run_id = entry.runs[0].id
        assert await kit.memo_ids(run_id) == [f"s-{run_id}"]


async def test_a_failing_commit_does_not_fail_its_neighbours(store: Storage, kit: Kit) -> None:
    entries = [kit.entry() for _ in range(20)]
    await store.ingest(entries)
    items = await kit.lease_all()
    await kit.finish(items[0], "first")

    results = await asyncio.gather(
        *(kit.finish(item, "x") for item in items), return_exceptions=True
    )

    assert isinstance(results[0], StaleLease)
    assert results[1:] == [None] * 19
    assert await store.next_due_at() is None


async def test_wake_listeners_run_on_the_event_loop_after_new_work(
    store: Storage, kit: Kit
) -> None:
    threads: list[int] = []
    store.add_wake_listener(lambda: threads.append(threading.get_ident()))

    run_id = await kit.start_run()
    assert threads == [threading.get_ident()]

    await store.enqueue([kit.step(run_id, "a")])
    assert len(threads) == 2

    item = await kit.lease_one(run_id)
    await kit.finish(item, then=Then.DISCOVER)
    assert threads == [threading.get_ident()] * 3
