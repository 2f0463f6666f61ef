"""`Storage.stats`: a function's runs counted per span of time and status, in one query."""

from __future__ import annotations

from storage_kit import HOUR_MS, Kit

from surge.core.ids import new_ulid
from surge.storage import IngestEntry, NewRun, RunStatus, Storage


async def start_runs_at(kit: Kit, function_id: str, *times: int) -> list[str]:
    """Start one run of `function_id` at each of `times` (its id minted then, as the engine
    mints it); return their ids."""
    entries = []
    for at in times:
        event = kit.event(received_at=at)
        run = NewRun(
            id=new_ulid(at), function_id=function_id, event_ids=[event.internal_id], started_at=at
        )
        entries.append(IngestEntry(event=event, runs=[run], dedupe_window_ms=0))
    await kit.store.ingest(entries)
    return [entry.runs[0].id for entry in entries]


async def test_runs_are_counted_in_the_bucket_of_their_start_by_status(
    store: Storage, kit: Kit
) -> None:
    start = (kit.clock // HOUR_MS - 3) * HOUR_MS
    _, edge, _, _ = await start_runs_at(
        kit, "app-fn", start, start + HOUR_MS - 1, start + HOUR_MS, start + 3 * HOUR_MS - 1
    )
    # Outside the window, or another function's: not counted.
    await start_runs_at(kit, "app-fn", start - 1, start + 3 * HOUR_MS)
    await start_runs_at(kit, "app-other", start + 10)
    await store.cancel_run(edge, at=start + 2 * HOUR_MS)

    counts = await store.stats.run_counts("app-fn", start=start, bucket_ms=HOUR_MS, buckets=3)

    assert counts == {
        (0, RunStatus.RUNNING): 1,
        (0, RunStatus.CANCELLED): 1,
        (1, RunStatus.RUNNING): 1,
        (2, RunStatus.RUNNING): 1,
    }
    assert await store.stats.run_counts("app-none", start=start, bucket_ms=HOUR_MS, buckets=3) == {}
