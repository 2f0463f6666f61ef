"""Ingest: events in, matched to triggers, stored together with the runs they start."""

from __future__ import annotations

from typing import Any

from surge.core.events import DEFAULT_MAX_EVENT_BYTES, parse_events
from surge.core.ids import new_ulid, seeded_ulids
from surge.storage import EventRecord, IngestEntry, NewRun, Storage
from surge.storage.records import DEDUPE_WINDOW_MS

from .registry import Registry


class Ingestor:
    """Turns events into `IngestEntry`s (event + triggered runs) and stores them."""

    def __init__(
        self,
        storage: Storage,
        registry: Registry,
        *,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    ) -> None:
        self._storage = storage
        self._registry = registry
        self.max_event_bytes = max_event_bytes

    async def ingest(self, body: bytes, *, seed: str | None, now: int) -> list[str]:
        """Validate a `POST /e/{key}` body, store its events and runs; return the event ids.

        Raises `InvalidInput` (changing nothing) when any event is invalid. With `seed`
        (`X-Inngest-Event-Id-Seed`) the ids are deterministic, so a retried send stores
        nothing twice and returns the same ids.
        """
        events = parse_events(body, max_event_bytes=self.max_event_bytes, now_ms=now)
        ids = seeded_ulids(seed, len(events)) if seed else [new_ulid(now) for _ in events]
        entries = [
            self.entry_for(event, internal_id=internal_id, now=now, dedupe=True)
            for event, internal_id in zip(events, ids, strict=True)
        ]
        return await self._storage.ingest(entries)

    def entry_for(
        self,
        event: dict[str, Any],
        *,
        internal_id: str | None = None,
        now: int | None = None,
        dedupe: bool = False,
        source_run_id: str | None = None,
        start: str | None = None,
        cron: str | None = None,
    ) -> IngestEntry:
        """The entry storing `event` and starting every function it triggers.

        With `start`, the event starts that one function instead (a cron tick, an invoke),
        whatever the triggers say.
        """
        received = now if now is not None else int(event.get("ts") or 0)
        internal_id = internal_id or new_ulid(received or None)
        payload = dict(event)
        payload.setdefault("id", internal_id)
        payload.setdefault("user", {})
        payload.setdefault("data", {})
        runs = [
            NewRun(
                id=new_ulid(received or None),
                function_id=function_id,
                event_ids=[internal_id],
                started_at=received,
                cron=cron,
            )
            for function_id in self._targets(payload, start)
        ]
        record = EventRecord(
            internal_id=internal_id,
            id=payload["id"],
            name=payload["name"],
            payload=payload,
            ts=int(payload.get("ts") or received),
            received_at=received,
            source_run_id=source_run_id,
        )
        return IngestEntry(
            event=record, runs=runs, dedupe_window_ms=DEDUPE_WINDOW_MS if dedupe else 0
        )

    def _targets(self, event: dict[str, Any], start: str | None) -> list[str]:
        if start is not None:
            return [start]
        return [function.id for function in self._registry.index.match(event)]
