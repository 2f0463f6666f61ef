"""Events to store: each matched to the functions it triggers, as an `IngestEntry`.

Pure functions of a registry `Snapshot`: the caller writes the entries with the snapshot's
version (`Registry.current`), so they are matched again if apps were synced meanwhile.
"""

from __future__ import annotations

from typing import Any

from surge.core.events import parse_events
from surge.core.ids import new_ulid, seeded_ulids
from surge.storage import EventRecord, IngestEntry, NewRun
from surge.storage.records import DEDUPE_WINDOW_MS

from .registry import Snapshot


def sent_entries(
    snapshot: Snapshot, body: bytes, *, seed: str | None, now: int, max_event_bytes: int
) -> list[IngestEntry]:
    """The entries of a `POST /e/{key}` body.

    Raises `InvalidInput` when any event is invalid. With `seed` (`X-Inngest-Event-Id-Seed`)
    the ids are deterministic, so a retried send stores nothing twice and returns the same ids.
    """
    events = parse_events(body, max_event_bytes=max_event_bytes, now_ms=now)
    if seed:
        ids: list[str | None] = list(seeded_ulids(seed, len(events)))
    else:
        ids = [None] * len(events)
    return [
        entry_for(snapshot, event, internal_id=internal_id, now=now, dedupe=True)
        for event, internal_id in zip(events, ids, strict=True)
    ]


def entry_for(
    snapshot: Snapshot,
    event: dict[str, Any],
    *,
    now: int,
    internal_id: str | None = None,
    dedupe: bool = False,
    start: str | None = None,
    cron: str | None = None,
) -> IngestEntry:
    """The entry storing `event` and starting every function it triggers.

    Without `internal_id`, a new one is minted. With `dedupe`, a user-given ``id`` already
    stored in the last 24 hours keeps the event from being stored again. With `start`, the
    event starts that one function instead (a cron tick), whatever the triggers say.
    """
    fresh = internal_id is None
    internal_id = internal_id or new_ulid(now)
    payload = dict(event)
    payload.setdefault("id", internal_id)
    payload.setdefault("user", {})
    payload.setdefault("data", {})
    targets = [start] if start is not None else [f.id for f in snapshot.index.match(payload)]
    runs = [
        NewRun(
            id=new_ulid(now),
            function_id=function_id,
            event_ids=[internal_id],
            started_at=now,
            cron=cron,
        )
        for function_id in targets
    ]
    record = EventRecord(
        internal_id=internal_id,
        id=payload["id"],
        name=payload["name"],
        payload=payload,
        ts=int(payload.get("ts") or now),
        received_at=now,
    )
    window = DEDUPE_WINDOW_MS if dedupe else 0
    return IngestEntry(event=record, runs=runs, dedupe_window_ms=window, fresh_id=fresh)
