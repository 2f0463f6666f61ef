"""Record builders and small drivers shared by the storage contract suite."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from surge.core.ids import new_ulid
from surge.storage import (
    AppRecord,
    Commit,
    EventRecord,
    FunctionRecord,
    IngestEntry,
    Memo,
    NewRun,
    NewWorkItem,
    Storage,
    Then,
    WorkItem,
    WorkKind,
)

HOUR_MS = 3600 * 1000

OpenStore = Callable[[], Awaitable[Storage]]
"""Opens one more storage on the test's database (the `open_store` fixture)."""


def now() -> int:
    """The wall clock in milliseconds."""
    return int(time.time() * 1000)


class Kit:
    """Builds records with fresh ULIDs and drives a storage through common moves.

    The clock starts an hour in the past and moves forward on every record, so seeded work is
    due at the real `now()` and ids sort in creation order.
    """

    def __init__(self, store: Storage) -> None:
        self.store = store
        self.clock = now() - HOUR_MS

    def tick(self) -> int:
        self.clock += 1
        return self.clock

    # -- builders ----------------------------------------------------------------------------

    def event(
        self,
        *,
        name: str = "test/event",
        user_id: str | None = None,
        received_at: int | None = None,
        data: dict[str, Any] | None = None,
    ) -> EventRecord:
        at = received_at if received_at is not None else self.tick()
        internal_id = new_ulid(at)
        event_id = user_id or internal_id
        return EventRecord(
            internal_id=internal_id,
            id=event_id,
            name=name,
            payload={"name": name, "data": data or {}, "id": event_id, "ts": at},
            ts=at,
            received_at=at,
        )

    def run(self, *event_ids: str, function_id: str = "app-fn") -> NewRun:
        at = self.tick()
        return NewRun(
            id=new_ulid(at), function_id=function_id, event_ids=list(event_ids), started_at=at
        )

    def entry(
        self,
        event: EventRecord | None = None,
        *,
        runs: int = 1,
        function_id: str = "app-fn",
        dedupe_window_ms: int = 24 * HOUR_MS,
    ) -> IngestEntry:
        event = event or self.event()
        return IngestEntry(
            event=event,
            runs=[self.run(event.internal_id, function_id=function_id) for _ in range(runs)],
            dedupe_window_ms=dedupe_window_ms,
        )

    def step(self, run_id: str, step_id: str, *, due_at: int | None = None) -> NewWorkItem:
        """A targeted step call for a run."""
        at = due_at if due_at is not None else self.tick()
        return NewWorkItem(kind=WorkKind.CALL, run_id=run_id, step_id=step_id, due_at=at)

    def app(self, app_id: str = "shop", *, url: str = "", checksum: str = "c1") -> AppRecord:
        return AppRecord(
            id=app_id,
            url=url or f"http://{app_id}.test/api/inngest",
            sdk="py:v0.5",
            checksum=checksum,
            synced_at=self.tick(),
            config={"framework": "starlette"},
        )

    def function(self, app: AppRecord, slug: str) -> FunctionRecord:
        return FunctionRecord(
            id=f"{app.id}-{slug}",
            app_id=app.id,
            name=slug,
            config={"triggers": [{"event": f"{app.id}/{slug}"}]},
            url=f"{app.url}?fnId={app.id}-{slug}&stepId=step",
        )

    def cron(self, app: AppRecord, slug: str, schedule: str = "* * * * *") -> NewWorkItem:
        fn = f"{app.id}-{slug}"
        return NewWorkItem(
            kind=WorkKind.CRON,
            due_at=self.tick(),
            payload={"app_id": app.id, "function_id": fn, "cron": schedule},
            unique_key=f"cron:{fn}:{schedule}",
        )

    # -- drivers -----------------------------------------------------------------------------

    async def start_run(self, *, function_id: str = "app-fn") -> str:
        """Ingest one event that starts one run; return the run id."""
        entry = self.entry(function_id=function_id)
        await self.store.ingest([entry])
        return entry.runs[0].id

    async def lease_all(self, *, at: int | None = None, lease_ms: int = 60_000) -> list[WorkItem]:
        """Lease everything due at `at` (default: now)."""
        when = at if at is not None else now()
        return await self.store.lease_due(now=when, limit=100_000, lease_ms=lease_ms)

    async def lease_one(self, run_id: str, step_id: str = "step") -> WorkItem:
        """Lease everything due and return the one item for `run_id` and `step_id`."""
        items = [i for i in await self.lease_all() if (i.run_id, i.step_id) == (run_id, step_id)]
        assert len(items) == 1, items
        return items[0]

    async def finish(self, item: WorkItem, *steps: str, then: Then = Then.NOTHING) -> None:
        """Commit `item` with a ``{"data": step_id}`` memo for each of `steps`."""
        memos = [Memo(step_id=s, outcome={"data": s}) for s in steps]
        await self.store.commit(Commit(at=now(), item=item, memos=memos, then=then))

    async def memo_ids(self, run_id: str) -> list[str]:
        """The run's memoized step ids in stack order."""
        return [m.step_id for m in (await self.store.load_run_state(run_id)).memos]
