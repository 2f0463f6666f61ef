"""Ingesting events: storing them once, creating their runs, deduplicating by id."""

from __future__ import annotations

from dataclasses import replace

import pytest
from storage_kit import Kit, now

from surge.core.errors import RegistryChanged, StorageError
from surge.storage import (
    Commit,
    EventQuery,
    IngestEntry,
    Memo,
    NewRun,
    RunQuery,
    RunStatus,
    Storage,
)


async def test_ingest_stores_events_and_starts_runs(store: Storage, kit: Kit) -> None:
    entry = kit.entry(kit.event(data={"order": 7}), runs=2)

    ids = await store.ingest([entry])

    assert ids == [entry.event.internal_id]
    stored = await store.get_event(entry.event.internal_id)
    assert stored == entry.event
    runs = await store.list_runs(RunQuery(event_id=entry.event.internal_id))
    assert sorted(r.id for r in runs) == sorted(r.id for r in entry.runs)
    assert {r.status for r in runs} == {RunStatus.RUNNING}
    assert {tuple(r.event_ids) for r in runs} == {(entry.event.internal_id,)}
    assert sorted(i.run_id or "" for i in await kit.lease_all()) == sorted(r.id for r in runs)


async def test_same_internal_id_is_stored_once(store: Storage, kit: Kit) -> None:
    event = kit.event(user_id="seeded")
    first = kit.entry(event)
    second = kit.entry(event)

    assert await store.ingest([first]) == [event.internal_id]
    assert await store.ingest([second]) == [event.internal_id]

    assert len(await store.list_events()) == 1
    assert [r.id for r in await store.list_runs()] == [first.runs[0].id]


async def test_user_id_within_window_is_deduplicated(store: Storage, kit: Kit) -> None:
    first = kit.entry(kit.event(user_id="order-1"))
    later = kit.event(user_id="order-1", received_at=first.event.received_at + 1000)

    await store.ingest([first])
    ids = await store.ingest([kit.entry(later, dedupe_window_ms=5000)])

    assert ids == [first.event.internal_id]
    assert [e.internal_id for e in await store.list_events()] == [first.event.internal_id]
    assert len(await store.list_runs()) == 1


async def test_user_id_outside_window_is_stored_again(store: Storage, kit: Kit) -> None:
    first = kit.entry(kit.event(user_id="order-1"))
    later = kit.event(user_id="order-1", received_at=first.event.received_at + 10_000)

    await store.ingest([first])
    ids = await store.ingest([kit.entry(later, dedupe_window_ms=5000)])

    assert ids == [later.internal_id]
    assert len(await store.list_events()) == 2
    assert len(await store.list_runs()) == 2
    assert (await store.get_event("order-1")).internal_id == later.internal_id


async def test_duplicates_inside_one_call_are_stored_once(store: Storage, kit: Kit) -> None:
    a = kit.entry(kit.event(user_id="dup"))
    b = kit.entry(kit.event(user_id="dup"))
    c = kit.entry()

    ids = await store.ingest([a, b, c, a])

    a_id, c_id = a.event.internal_id, c.event.internal_id
    assert ids == [a_id, a_id, c_id, a_id]
    assert len(await store.list_events()) == 2
    assert sorted(r.id for r in await store.list_runs()) == sorted([a.runs[0].id, c.runs[0].id])


async def test_generated_ids_are_never_deduplicated_by_user_id(store: Storage, kit: Kit) -> None:
    entries = [kit.entry() for _ in range(3)]

    ids = await store.ingest(entries)

    assert ids == [e.event.internal_id for e in entries]
    assert len(await store.list_events()) == 3


async def test_five_thousand_entries_in_one_call(store: Storage, kit: Kit) -> None:
    entries = [kit.entry(kit.event(user_id=f"bulk-{n}")) for n in range(5000)]

    ids = await store.ingest(entries)

    assert ids == [e.event.internal_id for e in entries]
    assert len(await store.list_events(EventQuery(limit=10_000))) == 5000
    assert len(await store.list_runs(RunQuery(limit=10_000))) == 5000
    assert len(await kit.lease_all()) == 5000
    assert await store.ingest(entries) == ids
    assert len(await store.list_events(EventQuery(limit=10_000))) == 5000


async def test_batch_run_is_listed_under_each_of_its_events(store: Storage, kit: Kit) -> None:
    e1, e2 = kit.event(), kit.event()
    run = kit.run(e1.internal_id, e2.internal_id)
    await store.ingest([IngestEntry(event=e1), IngestEntry(event=e2, runs=[run])])

    assert [r.id for r in await store.list_runs(RunQuery(event_id=e1.internal_id))] == [run.id]
    assert [r.id for r in await store.list_runs(RunQuery(event_id=e2.internal_id))] == [run.id]
    state = await store.load_run_state(run.id)
    assert state.events == [e1.payload, e2.payload]


async def test_failed_ingest_stores_nothing(store: Storage, kit: Kit) -> None:
    taken = kit.entry()
    await store.ingest([taken])
    fresh = kit.event()
    clash = NewRun(
        id=taken.runs[0].id, function_id="app-fn", event_ids=[fresh.internal_id], started_at=1
    )
    other = kit.entry()

    with pytest.raises(StorageError):
        await store.ingest([other, IngestEntry(event=fresh, runs=[clash])])

    assert [e.internal_id for e in await store.list_events()] == [taken.event.internal_id]


async def test_commit_ingests_events_with_the_same_rules(store: Storage, kit: Kit) -> None:
    parent_id = await kit.start_run()
    item = await kit.lease_one(parent_id)
    sent = kit.entry(kit.event(user_id="sent-once"))
    again = kit.entry(kit.event(user_id="sent-once"))

    await store.commit(Commit(at=now(), item=item, events=[sent, again]))

    events = await store.list_events(EventQuery(name="test/event"))
    assert [e.id for e in events].count("sent-once") == 1
    runs = await store.list_runs(RunQuery(event_id=sent.event.internal_id))
    assert [r.id for r in runs] == [sent.runs[0].id]
    assert {i.run_id for i in await kit.lease_all()} == {sent.runs[0].id}


async def test_minted_ids_are_stored_without_a_look_up_and_start_their_runs(
    store: Storage, kit: Kit
) -> None:
    entries = [replace(kit.entry(runs=2), fresh_id=True) for _ in range(3)]

    ids = await store.ingest(entries)

    assert ids == [e.event.internal_id for e in entries]
    assert len(await store.list_events()) == 3
    assert len(await store.list_runs()) == 6
    assert len(await kit.lease_all()) == 6


async def test_events_matched_against_a_stale_registry_store_nothing(
    store: Storage, kit: Kit
) -> None:
    stale = (await store.registry_state()).version
    app = kit.app()
    await store.sync_app(app, [kit.function(app, "fn")], [])
    entry = kit.entry()

    with pytest.raises(RegistryChanged):
        await store.ingest([entry], registry_version=stale)

    assert await store.list_events() == []
    assert await store.list_runs() == []
    assert await kit.lease_all() == []
    current = (await store.registry_state()).version
    assert await store.ingest([entry], registry_version=current) == [entry.event.internal_id]


async def test_a_commit_whose_events_were_matched_on_a_stale_registry_changes_nothing(
    store: Storage, kit: Kit
) -> None:
    run_id = await kit.start_run()
    item = await kit.lease_one(run_id)
    stale = (await store.registry_state()).version
    app = kit.app()
    await store.sync_app(app, [kit.function(app, "on-finish")], [])
    finished = replace(kit.entry(kit.event(name="inngest/function.finished")), fresh_id=True)
    memo = Memo(step_id="a", outcome={"data": 1})

    def commit(version: int) -> Commit:
        return Commit(
            at=now(), item=item, memos=[memo], events=[finished], registry_version=version
        )

    with pytest.raises(RegistryChanged):
        await store.commit(commit(stale))

    assert await kit.memo_ids(run_id) == []
    assert await store.list_events(EventQuery(name="inngest/function.finished")) == []
    # The lease survived: the same commit, matched again, goes through.
    await store.commit(commit((await store.registry_state()).version))
    assert await kit.memo_ids(run_id) == ["a"]
    assert [r.id for r in await store.list_runs(RunQuery(event_id=finished.event.internal_id))] == [
        finished.runs[0].id
    ]


async def test_large_events_with_awkward_text_are_stored_as_sent(store: Storage, kit: Kit) -> None:
    # Several rows at once: on PostgreSQL one array literal a column, each event's text
    # escaped on its own.
    awkward = ["", "NULL", 'say "hi"', "back\\slash", "{x,y}", "it's", "é😀\n\t", '\\"', "'\\'"]
    entries = [
        kit.entry(kit.event(data={"n": n, "awkward": awkward, "pad": "'\\\"" * 30_000}), runs=1)
        for n in range(4)
    ]

    ids = await store.ingest(entries)

    assert ids == [e.event.internal_id for e in entries]
    for entry in entries:
        assert await store.get_event(entry.event.internal_id) == entry.event
