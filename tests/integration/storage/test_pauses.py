"""Pauses: stored with a step's commit or a run's start, found through the index by the events
that may match them, claimed once by a match or a timeout, dropped when their run ends."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from storage_kit import Kit, now

from surge.core.ids import new_ulid
from surge.core.matching import match_key
from surge.storage import (
    DISCOVERY,
    Commit,
    Memo,
    NewWorkItem,
    Pause,
    PauseKind,
    RunStatus,
    RunUpdate,
    Storage,
    Then,
    WorkItem,
    WorkKind,
    step_key,
)

WAITED = "test/approved"


def pause(
    kit: Kit,
    run_id: str,
    *,
    key: tuple[str, object] | None = None,
    expression: str | None = None,
    kind: PauseKind = PauseKind.WAIT,
    expires_at: int | None = None,
    step_id: str = "wait",
) -> Pause:
    at = kit.tick()
    return Pause(
        id=new_ulid(at),
        run_id=run_id,
        step_id=step_id,
        kind=kind,
        event_name=WAITED,
        expression=expression,
        match_key=None if key is None else match_key(*key),
        created_at=at,
        expires_at=expires_at,
    )


def timeout_of(p: Pause, due_at: int) -> NewWorkItem:
    return NewWorkItem(
        kind=WorkKind.WAKE,
        due_at=due_at,
        run_id=p.run_id,
        step_id=p.step_id,
        payload={"pause": p.id},
        unique_key=step_key(p.run_id, p.step_id),
    )


async def start_runs(kit: Kit, n: int) -> list[WorkItem]:
    """`n` new runs, each with its first call leased."""
    ids = [await kit.start_run() for _ in range(n)]
    calls = {i.run_id: i for i in await kit.lease_all()}
    return [calls[run_id] for run_id in ids]


async def begin(kit: Kit, item: WorkItem, *pauses: Pause, timeout_at: int | None = None) -> None:
    """Commit a run's leased call, beginning `pauses` (with a timeout item for the first)."""
    enqueue = [timeout_of(pauses[0], timeout_at)] if timeout_at is not None else []
    await kit.store.commit(Commit(at=now(), item=item, pauses=list(pauses), enqueue=enqueue))


async def match_items(kit: Kit) -> list[WorkItem]:
    return [i for i in await kit.lease_all() if i.kind is WorkKind.MATCH]


async def test_an_event_finds_the_pauses_waiting_for_its_key_and_no_others(
    store: Storage, kit: Kit
) -> None:
    call_a, call_b = await start_runs(kit, 2)
    wait_a = pause(kit, call_a.run_id, key=("data.user", "u-1"))
    wait_b = pause(kit, call_b.run_id, key=("data.user", "u-2"))
    await begin(kit, call_a, wait_a)
    await begin(kit, call_b, wait_b)

    event = kit.event(name=WAITED, data={"user": "u-1"})
    await store.ingest([kit.entry(event, runs=0)])

    [item] = await match_items(kit)
    assert item.payload == {"events": [event.internal_id]}
    [(found, candidates)] = await store.pause_candidates(item.payload["events"])
    assert found.internal_id == event.internal_id
    assert [p.id for p in candidates] == [wait_a.id]
    assert candidates[0].trigger is not None and candidates[0].trigger["name"] == "test/event"


async def test_events_no_pause_waits_for_queue_no_matching(store: Storage, kit: Kit) -> None:
    [call] = await start_runs(kit, 1)
    await begin(kit, call, pause(kit, call.run_id, key=("data.user", "u-1")))

    await store.ingest(
        [
            kit.entry(kit.event(name="test/other", data={"user": "u-1"}), runs=0),
            kit.entry(kit.event(name=WAITED, data={"user": "u-2"}), runs=0),
            kit.entry(kit.event(name=WAITED), runs=0),
        ]
    )

    assert await match_items(kit) == []


async def test_unindexed_pauses_are_candidates_for_every_event_of_their_name_in_their_time(
    store: Storage, kit: Kit
) -> None:
    early = kit.event(name=WAITED)
    await store.ingest([kit.entry(early, runs=0)])
    call_a, call_b = await start_runs(kit, 2)
    open_ended = pause(kit, call_a.run_id, expression="async.data.n > 1")
    expired = pause(kit, call_b.run_id, expires_at=kit.tick())
    await begin(kit, call_a, open_ended)
    await begin(kit, call_b, expired)
    late = kit.event(name=WAITED, data={"n": 2})
    await store.ingest([kit.entry(late, runs=0)])

    found = await store.pause_candidates([early.internal_id, late.internal_id])

    # The earlier event came before either pause; the expired pause ended before the later.
    assert [(e.internal_id, [p.id for p in ps]) for e, ps in found] == [
        (early.internal_id, []),
        (late.internal_id, [open_ended.id]),
    ]


async def test_a_resume_memoizes_the_outcome_drops_the_timeout_and_goes_on_once(
    store: Storage, kit: Kit
) -> None:
    [call] = await start_runs(kit, 1)
    run_id = call.run_id
    wait = pause(kit, run_id)
    await begin(kit, call, wait, timeout_at=now() + 60_000)

    assert await store.resume(wait, outcome={"name": WAITED}, at=now(), detail={})
    assert not await store.resume(wait, outcome={"name": "again"}, at=now(), detail={})

    state = await store.load_run_state(run_id)
    assert [(m.step_id, m.outcome, m.op) for m in state.memos] == [
        ("wait", {"name": WAITED}, "WaitForEvent")
    ]
    leased = await kit.lease_all(at=now() + 120_000)
    assert [(i.kind, i.step_id) for i in leased] == [(WorkKind.CALL, DISCOVERY)]
    assert [h.kind for h in await store.run_history(run_id)] == ["resumed"]


async def test_a_timeout_that_fires_first_takes_the_pause(store: Storage, kit: Kit) -> None:
    [call] = await start_runs(kit, 1)
    run_id = call.run_id
    wait = pause(kit, run_id)
    await begin(kit, call, wait, timeout_at=now())
    [timeout] = [i for i in await kit.lease_all() if i.kind is WorkKind.WAKE]

    memo = Memo(step_id="wait", outcome=None, op="Timeout")
    await store.commit(
        Commit(
            at=now(), item=timeout, memos=[memo], then=Then.DISCOVER_IF_IDLE, pauses_done=[wait.id]
        )
    )

    assert not await store.resume(wait, outcome={"late": True}, at=now(), detail={})
    assert [m.outcome for m in (await store.load_run_state(run_id)).memos] == [None]


async def test_a_run_s_pauses_end_with_it_and_with_its_cancellation(
    store: Storage, kit: Kit
) -> None:
    call_ended, call_cancelled = await start_runs(kit, 2)
    ended, cancelled = call_ended.run_id, call_cancelled.run_id
    ended_wait = pause(kit, ended, kind=PauseKind.CANCEL, step_id="cancel:0")
    cancelled_wait = pause(kit, cancelled)
    await begin(kit, call_cancelled, cancelled_wait)
    await begin(kit, call_ended, ended_wait)
    await store.enqueue([kit.step(ended, "last", due_at=now())])
    [last] = [i for i in await kit.lease_all() if i.run_id == ended]

    update = RunUpdate(status=RunStatus.COMPLETED, ended_at=now())
    await store.commit(Commit(at=now(), item=last, run_update=update))
    await store.cancel_run(cancelled, at=now())

    event = kit.event(name=WAITED)
    await store.ingest([kit.entry(event, runs=0)])
    assert await match_items(kit) == []
    assert not await store.resume(cancelled_wait, outcome=None, at=now(), detail={})


async def test_a_new_run_s_cancel_on_pauses_are_stored_with_it(store: Storage, kit: Kit) -> None:
    entry = kit.entry()
    [run] = entry.runs
    cancel = pause(kit, run.id, kind=PauseKind.CANCEL, step_id="cancel:0")
    await store.ingest([replace(entry, runs=[replace(run, pauses=(cancel,))])])

    stop = kit.event(name=WAITED)
    await store.ingest([kit.entry(stop, runs=0)])

    [item] = await match_items(kit)
    [(_, candidates)] = await store.pause_candidates(item.payload["events"])
    assert [(p.id, p.kind) for p in candidates] == [(cancel.id, PauseKind.CANCEL)]


async def test_a_lazy_match_is_queued_only_when_a_pause_waits_for_a_name(
    store: Storage, kit: Kit
) -> None:
    woken = asyncio.Event()
    store.add_wake_listener(woken.set)
    [call] = await start_runs(kit, 1)
    ended = RunUpdate(status=RunStatus.COMPLETED, ended_at=now())
    finished = kit.entry(kit.event(name="inngest/function.finished"), runs=0, dedupe_window_ms=0)
    woken.clear()
    await store.commit(
        Commit(at=now(), item=call, run_update=ended, events=[finished], lazy_match=True)
    )
    assert await match_items(kit) == []  # nothing waits for it
    await asyncio.sleep(0.2)  # PostgreSQL: a notification would come through the listener
    assert not woken.is_set()

    [other] = await start_runs(kit, 1)
    await begin(kit, other, replace(pause(kit, other.run_id), event_name=WAITED))
    [last] = await start_runs(kit, 1)
    event = kit.event(name=WAITED)
    woken.clear()
    await store.commit(
        Commit(
            at=now(),
            item=last,
            run_update=ended,
            events=[kit.entry(event, runs=0, dedupe_window_ms=0)],
            lazy_match=True,
        )
    )
    await asyncio.wait_for(woken.wait(), timeout=5)  # every node looks for it at once
    [item] = await match_items(kit)
    assert item.payload == {"events": [event.internal_id]}


async def test_events_that_arrived_while_a_pause_was_stored_are_matched_against_it(
    store: Storage, kit: Kit
) -> None:
    # The events were ingested before the pause was stored, though the later ones arrived
    # after it began: their ingest read the index too early to see it.
    [call] = await start_runs(kit, 1)
    early = kit.event(name=WAITED, data={"user": "u-1"})
    wait = pause(kit, call.run_id, key=("data.user", "u-1"))
    raced = kit.event(name=WAITED, data={"user": "u-1"})
    other = kit.event(name="test/other", data={"user": "u-1"})
    await store.ingest([kit.entry(e, runs=0) for e in (early, raced, other)])
    assert await match_items(kit) == []

    await begin(kit, call, wait)

    [item] = await match_items(kit)
    assert item.payload == {"events": [raced.internal_id]}
    [(found, candidates)] = await store.pause_candidates(item.payload["events"])
    assert found.internal_id == raced.internal_id
    assert [p.id for p in candidates] == [wait.id]


async def test_a_cancel_on_event_that_arrived_while_its_run_started_is_matched(
    store: Storage, kit: Kit
) -> None:
    entry = kit.entry()
    [run] = entry.runs
    cancel = pause(kit, run.id, kind=PauseKind.CANCEL, step_id="cancel:0")
    stop = kit.event(name=WAITED)
    await store.ingest([kit.entry(stop, runs=0)])
    assert await match_items(kit) == []

    await store.ingest([replace(entry, runs=[replace(run, pauses=(cancel,))])])

    [item] = await match_items(kit)
    [(_, candidates)] = await store.pause_candidates(item.payload["events"])
    assert [p.id for p in candidates] == [cancel.id]
