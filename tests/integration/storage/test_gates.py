"""Start gates: idempotency and rate limits skip runs, throttles delay them, priority moves
them — decided in the ingest transaction, exactly across nodes."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from storage_kit import Kit, OpenStore, now

from surge.storage import Gate, GateKind, IngestEntry, Limit, RunQuery, RunStatus, Storage, WorkKind

SECOND = 1000


def gated(
    kit: Kit, *gates: Gate, at: int, priority_ms: int = 0, limits: tuple[Limit, ...] = ()
) -> IngestEntry:
    """One event starting one run with `gates`, received at `at`."""
    entry = kit.entry(kit.event(received_at=at))
    run = replace(
        entry.runs[0], started_at=at, gates=gates, priority_ms=priority_ms, concurrency=limits
    )
    return replace(entry, runs=[run])


async def statuses(store: Storage, entries: list[IngestEntry]) -> list[tuple[str, str | None]]:
    runs = [await store.get_run(e.runs[0].id) for e in entries]
    return [(r.status.value, r.skip_reason) for r in runs]


async def due_times(kit: Kit, entries: list[IngestEntry], *, until: int) -> dict[str, int]:
    """When each run's first call fell due, leasing everything due up to `until`."""
    leased = await kit.lease_all(at=until)
    by_run = {item.run_id: item.due_at for item in leased}
    return {e.runs[0].id: by_run[e.runs[0].id] for e in entries if e.runs[0].id in by_run}


async def test_an_idempotency_key_starts_one_run_a_day(store: Storage, kit: Kit) -> None:
    t = now()
    gate = Gate(GateKind.IDEMPOTENCY, "idempotency:fn:k", 24 * 3600 * SECOND)
    entries = [gated(kit, gate, at=t), gated(kit, gate, at=t + 1), gated(kit, gate, at=t + 2)]
    await store.ingest(entries[:1])
    await store.ingest(entries[1:])
    a_day_later = gated(kit, gate, at=t + 24 * 3600 * SECOND)
    await store.ingest([a_day_later])

    assert await statuses(store, entries) == [
        ("Running", None),
        ("Skipped", "idempotency"),
        ("Skipped", "idempotency"),
    ]
    assert await statuses(store, [a_day_later]) == [("Running", None)]
    skipped = await store.get_run(entries[1].runs[0].id)
    assert skipped.ended_at == t + 1
    leased = await kit.lease_all(at=a_day_later.runs[0].started_at)
    assert {i.run_id for i in leased} == {entries[0].runs[0].id, a_day_later.runs[0].id}


async def test_a_rate_limit_admits_its_limit_then_one_per_interval(
    store: Storage, kit: Kit
) -> None:
    t = now()
    gate = Gate(GateKind.RATE_LIMIT, "rate_limit:fn", 10 * SECOND, limit=2)
    at_once = [gated(kit, gate, at=t) for _ in range(3)]
    await store.ingest(at_once)
    # One run's room (10 s / 2) comes back 5 s after the first: not yet at 4.9 s.
    early = gated(kit, gate, at=t + 4_900)
    await store.ingest([early])
    on_time = [gated(kit, gate, at=t + 5_000), gated(kit, gate, at=t + 5_001)]
    await store.ingest(on_time)

    got = await statuses(store, [*at_once, early, *on_time])
    assert [s for s, _ in got] == ["Running", "Running", "Skipped", "Skipped", "Running", "Skipped"]
    assert {reason for s, reason in got if s == "Skipped"} == {"rate_limit"}


async def test_a_throttle_starts_limit_plus_burst_then_one_per_interval(
    store: Storage, kit: Kit
) -> None:
    t = now()
    gate = Gate(GateKind.THROTTLE, "throttle:fn", 6 * SECOND, limit=2, burst=1)
    entries = [gated(kit, gate, at=t) for _ in range(6)]
    await store.ingest(entries)

    due = await due_times(kit, entries, until=t + 60 * SECOND)

    assert await statuses(store, entries) == [("Running", None)] * 6  # none dropped
    assert [due[e.runs[0].id] - t for e in entries] == [0, 0, 0, 3000, 6000, 9000]


async def test_a_throttle_counts_runs_started_by_earlier_ingests(store: Storage, kit: Kit) -> None:
    t = now()
    gate = Gate(GateKind.THROTTLE, "throttle:fn:k", 1 * SECOND, limit=1)
    first, second = gated(kit, gate, at=t), gated(kit, gate, at=t + 100)
    await store.ingest([first])
    await store.ingest([second])
    later = gated(kit, gate, at=t + 5 * SECOND)  # the key has been idle: starts at once
    await store.ingest([later])

    due = await due_times(kit, [first, second, later], until=t + 10 * SECOND)

    assert [due[e.runs[0].id] - t for e in (first, second, later)] == [0, 1000, 5000]


async def test_a_skipped_run_takes_no_room_in_its_other_gates(store: Storage, kit: Kit) -> None:
    t = now()
    idem = Gate(GateKind.IDEMPOTENCY, "idempotency:fn:same", 24 * 3600 * SECOND)
    throttle = Gate(GateKind.THROTTLE, "throttle:fn", 10 * SECOND, limit=1)
    entries = [gated(kit, idem, throttle, at=t), gated(kit, idem, throttle, at=t)]
    other = gated(kit, throttle, at=t + 10 * SECOND)
    await store.ingest(entries)
    await store.ingest([other])

    due = await due_times(kit, [*entries, other], until=t + 60 * SECOND)

    assert (await statuses(store, entries))[1] == ("Skipped", "idempotency")
    assert due[other.runs[0].id] == t + 10 * SECOND  # not pushed back by the skipped run


async def test_priority_moves_a_run_s_first_call_and_its_place_behind_a_full_key(
    store: Storage, kit: Kit
) -> None:
    t = now() - 60 * SECOND
    limit = (Limit("fn:app-fn", 1),)
    holder = gated(kit, at=t, limits=limit)
    plain = gated(kit, at=t + 1, limits=limit)
    urgent = gated(kit, at=t + 2, priority_ms=30 * SECOND, limits=limit)
    await store.ingest([holder, plain, urgent])
    [first] = await kit.lease_all()
    assert first.run_id == holder.runs[0].id

    await kit.finish(first, "s")
    [second] = await kit.lease_all()

    assert second.run_id == urgent.runs[0].id  # queued later, but 30 s ahead


async def test_a_negative_priority_delays_the_first_call(store: Storage, kit: Kit) -> None:
    t = now()
    late = gated(kit, at=t, priority_ms=-120 * SECOND)
    await store.ingest([late])

    assert await kit.lease_all(at=t + 119 * SECOND) == []
    [item] = await kit.lease_all(at=t + 120 * SECOND)
    assert item.run_id == late.runs[0].id


async def test_nodes_ingesting_at_once_share_one_rate_limit(
    open_store: OpenStore, kit: Kit
) -> None:
    t = now()
    gate = Gate(GateKind.RATE_LIMIT, "rate_limit:fn:shared", 3600 * SECOND, limit=3)
    stores = [kit.store, *[await open_store() for _ in range(3)]]
    batches = [[gated(kit, gate, at=t) for _ in range(5)] for _ in stores]

    await asyncio.gather(*(s.ingest(b) for s, b in zip(stores, batches, strict=True)))

    got = [s for batch in batches for s, _ in await statuses(kit.store, batch)]
    assert got.count("Running") == 3
    assert got.count("Skipped") == 17


async def test_a_skipped_run_is_listed_with_its_event(store: Storage, kit: Kit) -> None:
    t = now()
    gate = Gate(GateKind.RATE_LIMIT, "rate_limit:fn", 3600 * SECOND, limit=1)
    first, second = gated(kit, gate, at=t), gated(kit, gate, at=t + 1)
    await store.ingest([first, second])

    [run] = await store.list_runs(RunQuery(event_id=second.event.internal_id))

    assert (run.status, run.skip_reason) == (RunStatus.SKIPPED, "rate_limit")


async def test_a_singleton_skips_new_runs_while_one_with_its_key_runs(
    store: Storage, kit: Kit
) -> None:
    t = now()
    gate = Gate(GateKind.SINGLETON, "singleton:fn:k", 0)
    first, second = gated(kit, gate, at=t), gated(kit, gate, at=t + 1)
    await store.ingest([first, second])
    other = gated(kit, Gate(GateKind.SINGLETON, "singleton:fn:other", 0), at=t + 2)
    await store.ingest([other])

    assert await statuses(store, [first, second, other]) == [
        ("Running", None),
        ("Skipped", "singleton"),
        ("Running", None),
    ]
    await store.cancel_run(first.runs[0].id, at=t + 3)
    third = gated(kit, gate, at=t + 4)
    await store.ingest([third])
    assert await statuses(store, [third]) == [("Running", None)]  # the key is free again


async def test_a_singleton_in_cancel_mode_starts_the_new_run_and_queues_the_old_one_s_end(
    store: Storage, kit: Kit
) -> None:
    t = now()
    gate = Gate(GateKind.SINGLETON_CANCEL, "singleton:fn:k", 0)
    first = gated(kit, gate, at=t)
    await store.ingest([first])
    second = gated(kit, gate, at=t + 1)
    await store.ingest([second])

    assert await statuses(store, [first, second]) == [("Running", None), ("Running", None)]
    cancels = [i for i in await kit.lease_all(at=t + 1) if i.kind is WorkKind.CANCEL]
    assert [c.payload["run"] for c in cancels] == [first.runs[0].id]
    assert cancels[0].payload["detail"] == {"by": "singleton", "replaced_by": second.runs[0].id}
