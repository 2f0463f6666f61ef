"""Reading events and runs, run state and history, cancelling runs."""

from __future__ import annotations

import pytest
from storage_kit import Kit, now

from surge.core.errors import NotFound, RegistryChanged
from surge.storage import (
    Commit,
    EventQuery,
    HistoryEntry,
    RunQuery,
    RunStatus,
    RunUpdate,
    Storage,
    Then,
)


async def test_unknown_event_and_run_raise_not_found(store: Storage) -> None:
    with pytest.raises(NotFound):
        await store.get_event("01ARZ3NDEKTSV4RRFFQ69G5FAV")
    with pytest.raises(NotFound):
        await store.get_run("01ARZ3NDEKTSV4RRFFQ69G5FAV")
    with pytest.raises(NotFound):
        await store.load_run_state("01ARZ3NDEKTSV4RRFFQ69G5FAV")
    with pytest.raises(NotFound):
        await store.cancel_run("01ARZ3NDEKTSV4RRFFQ69G5FAV", at=1)


async def test_get_event_by_user_id_returns_the_latest(store: Storage, kit: Kit) -> None:
    old = kit.event(user_id="u-1")
    new = kit.event(user_id="u-1", received_at=old.received_at + 100_000)
    await store.ingest([kit.entry(old, dedupe_window_ms=0)])
    await store.ingest([kit.entry(new, dedupe_window_ms=0)])

    assert await store.get_event("u-1") == new
    assert await store.get_event(old.internal_id) == old


async def test_list_events_newest_first_with_filters_and_cursor(store: Storage, kit: Kit) -> None:
    events = [kit.event(name="a" if n % 2 else "b") for n in range(6)]
    await store.ingest([kit.entry(e, runs=0) for e in events])
    newest_first = [e.internal_id for e in reversed(events)]

    assert [e.internal_id for e in await store.list_events()] == newest_first
    page = await store.list_events(EventQuery(limit=4))
    rest = await store.list_events(EventQuery(limit=4, cursor=page[-1].internal_id))
    assert [e.internal_id for e in page + rest] == newest_first
    assert [e.name for e in await store.list_events(EventQuery(name="a"))] == ["a"] * 3
    window = await store.list_events(
        EventQuery(received_after=events[1].received_at, received_before=events[4].received_at)
    )
    assert [e.internal_id for e in window] == [e.internal_id for e in reversed(events[1:4])]


async def test_list_runs_newest_first_with_filters_and_cursor(store: Storage, kit: Kit) -> None:
    entries = [kit.entry(function_id="app-a" if n % 2 else "app-b") for n in range(5)]
    await store.ingest(entries)
    newest_first = [e.runs[0].id for e in reversed(entries)]

    assert [r.id for r in await store.list_runs()] == newest_first
    page = await store.list_runs(RunQuery(limit=3))
    rest = await store.list_runs(RunQuery(limit=3, cursor=page[-1].id))
    assert [r.id for r in page + rest] == newest_first
    assert [r.id for r in await store.list_runs(RunQuery(function_id="app-a"))] == [
        e.runs[0].id for e in reversed(entries) if e.runs[0].function_id == "app-a"
    ]
    target = entries[2].event.internal_id
    assert [r.id for r in await store.list_runs(RunQuery(event_id=target))] == [
        entries[2].runs[0].id
    ]


async def test_runs_started_by_sent_events_know_their_parent(store: Storage, kit: Kit) -> None:
    parent_id = await kit.start_run()
    item = await kit.lease_one(parent_id)
    sent = kit.entry()

    await store.commit(
        Commit(at=now(), item=item, events=[sent], link_events_to_run=[sent.event.internal_id])
    )

    child_id = sent.runs[0].id
    assert (await store.get_run(child_id)).parent_run_id == parent_id
    assert (await store.get_run(parent_id)).parent_run_id is None
    assert [r.id for r in await store.list_runs(RunQuery(parent_run_id=parent_id))] == [child_id]
    assert (await store.get_event(sent.event.internal_id)).source_run_id == parent_id


async def test_run_update_ends_the_run_with_its_output(store: Storage, kit: Kit) -> None:
    run_id = await kit.start_run()
    item = await kit.lease_one(run_id)
    ended = kit.tick()

    await store.commit(
        Commit(
            at=now(),
            item=item,
            run_update=RunUpdate(status=RunStatus.COMPLETED, ended_at=ended, output={"ok": 1}),
        )
    )

    run = await store.get_run(run_id)
    assert (run.status, run.ended_at, run.output, run.error) == (
        RunStatus.COMPLETED,
        ended,
        {"ok": 1},
        None,
    )


async def test_failed_run_keeps_its_error(store: Storage, kit: Kit) -> None:
    run_id = await kit.start_run()
    item = await kit.lease_one(run_id)
    error = {"name": "Error", "message": "boom"}

    await store.commit(
        Commit(
            at=now(),
            item=item,
            run_update=RunUpdate(status=RunStatus.FAILED, ended_at=5, error=error),
        )
    )

    run = await store.get_run(run_id)
    assert (run.status, run.error, run.output) == (RunStatus.FAILED, error, None)


async def test_history_is_returned_in_write_order(store: Storage, kit: Kit) -> None:
    run_id = await kit.start_run()
    item = await kit.lease_one(run_id)
    entries = [
        HistoryEntry(run_id=run_id, at=9, kind="step.started", step_id="a", attempt=1),
        HistoryEntry(run_id=run_id, at=3, kind="step.completed", step_id="a", detail={"x": 1}),
    ]

    await store.commit(Commit(at=now(), item=item, history=entries))

    assert await store.run_history(run_id) == entries


async def test_a_run_s_first_call_is_the_first_history_line_naming_a_step(
    store: Storage, kit: Kit
) -> None:
    run_id = await kit.start_run()
    assert await store.first_call(run_id) is None
    item = await kit.lease_one(run_id)
    entries = [
        HistoryEntry(run_id=run_id, at=2, kind="resumed"),
        HistoryEntry(run_id=run_id, at=3, kind="step_completed", step_id="a", detail={"began": 1}),
        HistoryEntry(run_id=run_id, at=4, kind="step_completed", step_id="b"),
    ]

    await store.commit(Commit(at=now(), item=item, history=entries))

    assert await store.first_call(run_id) == entries[1]


async def test_cancel_stops_a_running_run_and_drops_its_work(store: Storage, kit: Kit) -> None:
    run_id = await kit.start_run()
    other_id = await kit.start_run()
    await store.enqueue([kit.step(run_id, "a")])
    at = kit.tick()

    run = await store.cancel_run(run_id, at=at)

    assert (run.status, run.ended_at) == (RunStatus.CANCELLED, at)
    assert await store.get_run(run_id) == run
    assert [i.run_id for i in await kit.lease_all()] == [other_id]
    assert [h.kind for h in await store.run_history(run_id)] == ["cancelled"]
    assert await store.cancel_run(run_id, at=at + 50) == run
    assert len(await store.run_history(run_id)) == 1


async def test_cancel_leaves_an_ended_run_unchanged(store: Storage, kit: Kit) -> None:
    run_id = await kit.start_run()
    item = await kit.lease_one(run_id)
    update = RunUpdate(status=RunStatus.COMPLETED, ended_at=11, output="done")
    await store.commit(Commit(at=now(), item=item, run_update=update))

    run = await store.cancel_run(run_id, at=99)

    assert (run.status, run.ended_at, run.output) == (RunStatus.COMPLETED, 11, "done")
    assert await store.run_history(run_id) == []


async def test_a_call_in_flight_when_its_run_is_cancelled_keeps_its_result(
    store: Storage, kit: Kit
) -> None:
    # What it queues next finds the run cancelled before it calls the app (engine tests).
    run_id = await kit.start_run()
    item = await kit.lease_one(run_id)
    await store.cancel_run(run_id, at=kit.tick())

    await kit.finish(item, "a", then=Then.DISCOVER)

    assert await kit.memo_ids(run_id) == ["a"]
    assert (await store.get_run(run_id)).status is RunStatus.CANCELLED
    assert [h.kind for h in await store.run_history(run_id)] == ["cancelled"]


async def test_a_call_that_would_end_a_cancelled_run_leaves_it_cancelled_without_events(
    store: Storage, kit: Kit
) -> None:
    run_id = await kit.start_run()
    item = await kit.lease_one(run_id)
    cancelled_at = kit.tick()
    await store.cancel_run(run_id, at=cancelled_at)
    finished = kit.entry(kit.event(name="inngest/function.finished"), dedupe_window_ms=0)
    update = RunUpdate(status=RunStatus.COMPLETED, ended_at=kit.tick(), output="done")
    ended = HistoryEntry(run_id=run_id, at=kit.tick(), kind="completed")

    await store.commit(
        Commit(at=now(), item=item, run_update=update, events=[finished], history=[ended])
    )

    run = await store.get_run(run_id)
    assert (run.status, run.ended_at, run.output) == (RunStatus.CANCELLED, cancelled_at, None)
    assert await store.list_events(EventQuery(name="inngest/function.finished")) == []
    assert [h.kind for h in await store.run_history(run_id)] == ["cancelled"]


async def test_cancel_stores_its_events_in_the_same_transaction(store: Storage, kit: Kit) -> None:
    run_id = await kit.start_run()
    version = (await store.registry_state()).version
    cancelled = kit.entry(kit.event(name="inngest/function.cancelled"), dedupe_window_ms=0)

    await store.cancel_run(run_id, at=kit.tick(), events=[cancelled], registry_version=version)

    [stored] = await store.list_events(EventQuery(name="inngest/function.cancelled"))
    assert stored.internal_id == cancelled.event.internal_id
    assert [r.id for r in await store.list_runs(RunQuery(event_id=stored.internal_id))] == [
        cancelled.runs[0].id
    ]


async def test_cancel_matched_on_a_stale_registry_changes_nothing(store: Storage, kit: Kit) -> None:
    run_id = await kit.start_run()
    stale = (await store.registry_state()).version
    app = kit.app()
    await store.sync_app(app, [kit.function(app, "on-cancel")], [])
    cancelled = kit.entry(kit.event(name="inngest/function.cancelled"), dedupe_window_ms=0)

    with pytest.raises(RegistryChanged):
        await store.cancel_run(run_id, at=kit.tick(), events=[cancelled], registry_version=stale)

    assert (await store.get_run(run_id)).status is RunStatus.RUNNING
    assert await store.run_history(run_id) == []
    assert await store.list_events(EventQuery(name="inngest/function.cancelled")) == []
    assert [i.run_id for i in await kit.lease_all()] == [run_id]
