"""Concurrency slots: a call of a limited run is leased only while its keys have room."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from storage_kit import Kit, OpenStore, now

from surge.storage import (
    Commit,
    IngestEntry,
    Limit,
    Memo,
    NewWorkItem,
    Storage,
    Then,
    WorkItem,
    WorkKind,
)
from surge.storage.rules.slots import PARKED
from surge.storage.statements import Rule, execute


async def start_runs(kit: Kit, n: int, *limits: Limit, function_id: str = "app-fn") -> list[str]:
    """`n` runs started by one ingest, each limited by `limits`; their ids in start order."""
    entries: list[IngestEntry] = []
    for _ in range(n):
        entry = kit.entry(function_id=function_id)
        entries.append(replace(entry, runs=[replace(entry.runs[0], concurrency=limits)]))
    await kit.store.ingest(entries)
    return [e.runs[0].id for e in entries]


async def done(store: Storage, item: WorkItem) -> None:
    """Commit `item` as its run's last step (its call deleted, no next work)."""
    memo = Memo(step_id="s", outcome={"data": 1})
    await store.commit(Commit(at=now(), item=item, memos=[memo]))


async def test_no_more_calls_are_leased_than_the_limit_allows(store: Storage, kit: Kit) -> None:
    limit = Limit("fn:app-fn", 3)
    runs = await start_runs(kit, 10, limit)

    leased = await kit.lease_all()

    assert [i.run_id for i in leased] == runs[:3]  # the runs that started first
    assert all(i.slots == ("fn:app-fn",) for i in leased)
    assert await kit.lease_all() == []  # the other 7 wait, parked: none is due
    next_due = await store.next_due_at()  # only the leases' expiry: nothing parked counts
    assert next_due is not None and next_due > now() + 30_000


async def test_each_freed_slot_lets_one_parked_call_run(store: Storage, kit: Kit) -> None:
    runs = await start_runs(kit, 5, Limit("fn:app-fn", 2))
    first = await kit.lease_all()

    await done(store, first[0])
    second = await kit.lease_all()
    await done(store, first[1])
    await done(store, second[0])
    third = await kit.lease_all()

    assert [i.run_id for i in second] == [runs[2]]
    assert [i.run_id for i in third] == [runs[3], runs[4]]
    assert await kit.lease_all() == []


async def test_keys_are_separate_queues_and_a_call_needs_both_of_its_keys(
    store: Storage, kit: Kit
) -> None:
    shared = Limit("env::orders", 2)
    [a1, a2] = await start_runs(kit, 2, Limit("fn:f:a", 1), shared)
    [b1] = await start_runs(kit, 1, Limit("fn:f:b", 1), shared)
    [c1] = await start_runs(kit, 1, Limit("fn:f:c", 1), shared)

    leased = await kit.lease_all()

    # a1 and b1 take the two shared slots; a2 waits for key a, c1 for the shared key.
    assert sorted(i.run_id for i in leased) == sorted([a1, b1])
    await done(store, next(i for i in leased if i.run_id == a1))
    [after] = await kit.lease_all()
    assert after.run_id in (a2, c1)


async def test_a_retry_frees_the_slot_until_it_is_due(store: Storage, kit: Kit) -> None:
    [r1, r2] = await start_runs(kit, 2, Limit("fn:app-fn", 1))
    [item] = await kit.lease_all()
    assert item.run_id == r1

    retry_at = now() + 60_000
    await store.commit(Commit(at=now(), item=item, retry_at=retry_at))
    [other] = await kit.lease_all()
    await done(store, other)
    [retried] = await kit.lease_all(at=retry_at)

    assert other.run_id == r2
    assert retried.run_id == r1 and retried.attempt == 1


async def test_a_lapsed_or_handed_back_call_keeps_its_slot(store: Storage, kit: Kit) -> None:
    await start_runs(kit, 2, Limit("fn:app-fn", 1))
    [item] = await kit.lease_all(lease_ms=1)

    [again] = await kit.lease_all(at=now() + 10)  # the lease lapsed: the same call, no other
    await store.release([again], now=now())
    [handed_back] = await kit.lease_all()

    assert again.id == item.id == handed_back.id
    assert handed_back.slots == ("fn:app-fn",)


async def test_a_cancelled_run_s_call_in_flight_holds_its_slot_until_it_commits(
    store: Storage, kit: Kit
) -> None:
    [r1, r2] = await start_runs(kit, 2, Limit("fn:app-fn", 1))
    [item] = await kit.lease_all()

    await store.cancel_run(r1, at=now(), events=[], registry_version=None)
    assert item.run_id == r1 and await kit.lease_all() == []  # the step still executes

    await store.commit(Commit(at=now(), item=item, then=Then.DISCOVER))
    # The call it queued holds the slot until the engine drops it, seeing the run cancelled.
    [late] = await kit.lease_all()
    assert late.run_id == r1
    await store.commit(Commit(at=now(), item=late))
    assert [i.run_id for i in await kit.lease_all()] == [r2]


async def test_cancelling_a_run_frees_the_slots_its_queued_calls_hold(
    store: Storage, kit: Kit
) -> None:
    [r1, r2] = await start_runs(kit, 2, Limit("fn:app-fn", 1))
    [item] = await kit.lease_all()
    await store.release([item], now=now())  # handed back: queued, holding its slot

    await store.cancel_run(r1, at=now(), events=[], registry_version=None)
    [next_one] = await kit.lease_all()

    assert next_one.run_id == r2


async def test_a_run_s_next_step_queues_behind_no_later_run(store: Storage, kit: Kit) -> None:
    [r1, r2, r3] = await start_runs(kit, 3, Limit("fn:app-fn", 1))
    [first] = await kit.lease_all()
    step = kit.step(r1, "two", due_at=now())

    await store.commit(Commit(at=now(), item=first, enqueue=[step]))
    [second] = await kit.lease_all()

    # r1's next step and r2's first call both wanted the freed slot: r1 began first.
    assert (second.run_id, second.step_id) == (r1, "two")
    await done(store, second)
    assert [i.run_id for i in await kit.lease_all()] == [r2]
    assert r3 not in [i.run_id for i in await kit.lease_all()]


async def test_nodes_leasing_at_once_share_one_limit(open_store: OpenStore, kit: Kit) -> None:
    runs = await start_runs(kit, 40, Limit("fn:app-fn", 5))
    stores = [kit.store, *[await open_store() for _ in range(3)]]

    async def lease(store: Storage) -> list[WorkItem]:
        return await store.lease_due(now=now(), limit=10, lease_ms=60_000)

    leased = [i for batch in await asyncio.gather(*map(lease, stores)) for i in batch]

    assert len(leased) == 5
    assert {i.run_id for i in leased} <= set(runs)


async def test_a_run_s_next_call_takes_over_its_slot(store: Storage, kit: Kit) -> None:
    [r1, r2] = await start_runs(kit, 2, Limit("fn:app-fn", 1))
    [first] = await kit.lease_all()

    await store.commit(Commit(at=now(), item=first, then=Then.DISCOVER))
    [second] = await kit.lease_all()

    assert (second.run_id, second.step_id, second.slots) == (r1, "step", ("fn:app-fn",))
    await done(store, second)
    assert [i.run_id for i in await kit.lease_all()] == [r2]


async def test_a_next_call_already_queued_frees_the_slot_instead(store: Storage, kit: Kit) -> None:
    [r1, r2] = await start_runs(kit, 2, Limit("fn:app-fn", 1))
    [first] = await kit.lease_all()
    later = replace(kit.step(r1, "two", due_at=now() + 60_000), unique_key=f"{r1}:two")
    await store.enqueue([later])

    # The same call, due now: skipped as queued already, so it cannot take the slot over;
    # the slot is freed, and the waiting run takes it.
    await store.commit(Commit(at=now(), item=first, enqueue=[replace(later, due_at=now())]))

    assert [(i.run_id, i.step_id) for i in await kit.lease_all()] == [(r2, "step")]


async def test_runs_for_a_full_key_start_parked_so_other_keys_are_not_behind_them(
    store: Storage, kit: Kit
) -> None:
    [big1, *_] = await start_runs(kit, 10, Limit("fn:f:big", 1))
    [small] = await start_runs(kit, 1, Limit("fn:f:small", 1))

    # Two items leased: the big key's first run and the small key's, not two of the big key's.
    leased = await store.lease_due(now=now(), limit=2, lease_ms=60_000)

    assert sorted(i.run_id for i in leased) == sorted([big1, small])


async def test_cancelling_a_run_before_its_call_ran_lets_the_next_one_start(
    store: Storage, kit: Kit
) -> None:
    # r1's call was due (created while the key had room), r2's parked behind it.
    [r1, r2] = await start_runs(kit, 2, Limit("fn:app-fn", 1))

    await store.cancel_run(r1, at=now(), events=[], registry_version=None)

    assert [i.run_id for i in await kit.lease_all()] == [r2]


async def test_a_start_unparks_a_call_whose_key_no_one_holds(
    open_store: OpenStore, kit: Kit
) -> None:
    [r1] = await start_runs(kit, 1, Limit("fn:app-fn", 1))

    def strand() -> Rule[None]:  # a parked call with no holder: what no path should leave
        sql = "UPDATE work_items SET parked_on = ?, due_at = ? WHERE run_id = ?"
        yield execute(sql, "fn:app-fn", PARKED, r1)

    await kit.store._db.run(strand)
    assert await kit.lease_all() == []

    restarted = await open_store()
    await restarted.recover(single_node=False, now=now())

    assert [i.run_id for i in await kit.lease_all()] == [r1]


async def test_a_worker_asking_for_the_next_call_gets_it_leased_with_the_run_s_state(
    store: Storage, kit: Kit
) -> None:
    [r1, r2] = await start_runs(kit, 2, Limit("fn:app-fn", 1))
    [first] = await kit.lease_all()
    memo = Memo(step_id="one", outcome={"data": 1})

    following = await store.commit(
        Commit(at=now(), item=first, memos=[memo], then=Then.DISCOVER, lease_next_ms=30_000)
    )

    assert following is not None
    assert (following.item.run_id, following.item.step_id) == (r1, "step")
    assert following.item.slots == ("fn:app-fn",)  # the run kept its slot
    assert [m.step_id for m in following.state.memos] == ["one"]
    assert await kit.lease_all() == []  # leased already: no one else takes it, r2 still waits
    last = await store.commit(Commit(at=now(), item=following.item, lease_next_ms=30_000))

    # r1 ended: its slot goes straight to r2's first call, leased to the same worker.
    assert last is not None and last.item.run_id == r2 and last.item.slots == ("fn:app-fn",)
    assert last.state.run.id == r2 and last.state.memos == []
    await done(store, last.item)
    assert await kit.lease_all() == []


async def test_a_run_not_idle_after_a_step_hands_its_slot_on_and_keeps_its_other_work(
    store: Storage, kit: Kit
) -> None:
    # The step's call would become the run's next discovery call, but the run still has a
    # wake-up queued (a parallel sleep): the call's row goes, and its slot passes to r2.
    [r1, r2] = await start_runs(kit, 2, Limit("fn:app-fn", 1))
    [first] = await kit.lease_all()
    nap = NewWorkItem(kind=WorkKind.WAKE, run_id=r1, step_id="nap", due_at=now() + 3_600_000)
    await store.enqueue([nap])
    memo = Memo(step_id="one", outcome={"data": 1})

    following = await store.commit(
        Commit(at=now(), item=first, memos=[memo], then=Then.DISCOVER_IF_IDLE, lease_next_ms=30_000)
    )

    assert following is not None and following.item.run_id == r2
    assert following.item.slots == ("fn:app-fn",)
    assert following.item.id != first.id
    later = await kit.lease_all(at=now() + 3_600_000)  # r2's lease has lapsed by then
    assert [i.step_id for i in later if i.run_id == r1] == ["nap"]  # and no discovery of r1
