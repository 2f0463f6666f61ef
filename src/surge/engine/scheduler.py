"""The scheduler: leases due work items and hands them to workers, woken by pushes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from surge.storage import Storage, WorkItem

logger = logging.getLogger(__name__)

Handler = Callable[[WorkItem], Awaitable[None]]

IDLE_RECHECK_S = 30.0
"""Longest sleep with nothing due: a safety net, since every enqueue wakes the scheduler."""


class Scheduler:
    """Keeps up to `workers` work items in flight.

    It sleeps until the earliest due item or until storage reports new work
    (`Storage.add_wake_listener`), so a new item starts within milliseconds; there is no
    polling tick.
    """

    def __init__(
        self, storage: Storage, handler: Handler, *, workers: int = 100, lease_ms: int = 330_000
    ) -> None:
        self._storage = storage
        self._handler = handler
        self._workers = workers
        self._lease_ms = lease_ms
        self._wake = asyncio.Event()
        self._slot_free = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None
        storage.add_wake_listener(self.wake)

    def wake(self) -> None:
        """New work may be due: look now."""
        self._wake.set()

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run(), name="surge-scheduler")

    async def stop(self, *, grace: float = 10.0) -> None:
        """Stop leasing; wait up to `grace` seconds for in-flight items, then cancel them."""
        self._stopping = True
        self._wake.set()
        self._slot_free.set()
        if self._loop_task is not None:
            await self._loop_task
        if self._inflight:
            _, pending = await asyncio.wait(self._inflight, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self._tick()
            except Exception:
                logger.exception("scheduler tick failed; retrying shortly")
                await asyncio.sleep(0.5)

    async def _tick(self) -> None:
        free = self._workers - len(self._inflight)
        if free < max(1, self._workers // 10) and self._inflight:
            self._slot_free.clear()
            await self._slot_free.wait()
            return
        self._wake.clear()
        now = time.time_ns() // 1_000_000
        items = await self._storage.lease_due(now=now, limit=free, lease_ms=self._lease_ms)
        for item in items:
            task = asyncio.create_task(self._handle(item))
            self._inflight.add(task)
            task.add_done_callback(self._done)
        if len(items) == free or self._stopping:
            return
        next_due = await self._storage.next_due_at()
        timeout = IDLE_RECHECK_S
        if next_due is not None:
            timeout = min(timeout, max(0.0, (next_due - now) / 1000))
        if timeout > 0:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass

    async def _handle(self, item: WorkItem) -> None:
        try:
            await self._handler(item)
        except Exception:
            # The lease lapses and the item runs again; nothing is lost.
            logger.exception(
                "work item failed", extra={"run_id": item.run_id, "step_id": item.step_id}
            )

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._slot_free.set()
