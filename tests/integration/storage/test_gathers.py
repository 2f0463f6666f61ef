"""Gathers: debounces and event batches hold events, not runs, until one run starts with them."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from storage_kit import Kit, OpenStore, now

from surge.storage import (
    Gather,
    GatherKind,
    IngestEntry,
    RunQuery,
    Storage,
    WorkItem,
    WorkKind,
)

SECOND = 1000
DEBOUNCE = Gather(GatherKind.DEBOUNCE, "debounce:fn", 5 * SECOND, timeout_ms=12 * SECOND)


def batch(size: int, key: str = "batch:fn") -> Gather:
    return Gather(GatherKind.BATCH, key, 10 * SECOND, max_size=size)


def gathered(kit: Kit, gather: Gather, *, at: int) -> IngestEntry:
    entry = kit.entry(kit.event(received_at=at))
    return replace(entry, runs=[replace(entry.runs[0], started_at=at, gather=gather)])


async def runs_of(store: Storage) -> list[tuple[list[str], str | None]]:
    """Every run (oldest first): its events and batch id."""
    runs = await store.list_runs(RunQuery(function_id="app-fn"))
    return [(r.event_ids, r.batch_id) for r in reversed(runs)]


async def flush_due(kit: Kit, *, at: int) -> list[str | None]:
    """Lease the flush items due at `at` and wake each; the runs they started."""
    items: list[WorkItem] = [i for i in await kit.lease_all(at=at) if i.kind is WorkKind.FLUSH]
    return [await kit.store.flush(i, now=at, run_id=f"run-{i.id}-{at}") for i in items]


async def test_a_debounce_starts_one_run_with_the_last_event_once_quiet(
    store: Storage, kit: Kit
) -> None:
    t = now()
    entries = [gathered(kit, DEBOUNCE, at=t + n * SECOND) for n in range(3)]
    for entry in entries:
        await store.ingest([entry])

    assert await runs_of(store) == []  # no run while it is open
    assert await flush_due(kit, at=t + 5 * SECOND) == [None]  # pushed back by later events
    assert await runs_of(store) == []
    [started] = await flush_due(kit, at=t + 7 * SECOND)  # 5 s after the last

    [(event_ids, batch_id)] = await runs_of(store)
    assert event_ids == [entries[-1].event.internal_id]
    assert batch_id == entries[0].runs[0].id
    assert started is not None and (await store.get_run(started)).event_ids == event_ids
    assert [i.kind for i in await kit.lease_all(at=t + 60 * SECOND)] == [WorkKind.CALL]


async def test_a_debounce_closes_at_its_timeout_however_busy(store: Storage, kit: Kit) -> None:
    t = now()
    for n in range(20):  # one a second: never quiet for 5 s
        await store.ingest([gathered(kit, DEBOUNCE, at=t + n * SECOND)])
        await flush_due(kit, at=t + n * SECOND)

    [(event_ids, _)] = await runs_of(store)  # closed at 12 s with the event of 12 s

    assert len(event_ids) == 1


async def test_a_batch_starts_when_full_and_every_event_is_in_exactly_one(
    store: Storage, kit: Kit
) -> None:
    t = now()
    entries = [gathered(kit, batch(3), at=t + n) for n in range(7)]
    await store.ingest(entries[:2])
    await store.ingest(entries[2:])  # fills the first batch, fills a second, opens a third

    runs = await runs_of(store)
    ids = [e.event.internal_id for e in entries]
    assert [events for events, _ in runs] == [ids[0:3], ids[3:6]]
    assert len({batch_id for _, batch_id in runs}) == 2
    [started] = await flush_due(kit, at=t + 10 * SECOND + 6)  # the third, on its timeout
    assert started is not None
    assert (await store.get_run(started)).event_ids == ids[6:]
    assert await flush_due(kit, at=t + 60 * SECOND) == []  # nothing left to wake


async def test_batches_are_kept_apart_by_key(store: Storage, kit: Kit) -> None:
    t = now()
    a = [gathered(kit, batch(2, "batch:fn:a"), at=t) for _ in range(2)]
    b = [gathered(kit, batch(2, "batch:fn:b"), at=t)]
    await store.ingest([a[0], b[0], a[1]])

    [(events, _)] = await runs_of(store)

    assert events == [e.event.internal_id for e in a]


async def test_nodes_ingesting_at_once_put_each_event_in_exactly_one_batch(
    open_store: OpenStore, kit: Kit
) -> None:
    t = now()
    stores = [kit.store, *[await open_store() for _ in range(3)]]
    batches = [[gathered(kit, batch(4), at=t) for _ in range(6)] for _ in stores]

    await asyncio.gather(*(s.ingest(b) for s, b in zip(stores, batches, strict=True)))
    await flush_due(kit, at=t + 60 * SECOND)

    runs = await runs_of(kit.store)
    events = [e for run_events, _ in runs for e in run_events]
    assert sorted(events) == sorted(e.event.internal_id for b in batches for e in b)
    assert sorted(len(run_events) for run_events, _ in runs) == [4, 4, 4, 4, 4, 4]
