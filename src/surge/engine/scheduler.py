"""The scheduler: leases due work items and hands them to workers, woken by pushes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from surge.core.clock import Clock
from surge.storage import NextCall, RunState, Storage, WorkItem

logger = logging.getLogger(__name__)

Handler = Callable[[WorkItem, RunState | None], Awaitable[NextCall | None]]
"""Runs a leased item (with its run's state, if read already); returns the next item to run
at once, already leased, if any."""

IDLE_RECHECK_S = 30.0
"""Longest sleep with nothing due: a safety net, since every enqueue wakes the scheduler."""
LEASE_AHEAD_MS = 200
"""How long before they are due timers and urgent calls are leased: the handler holds them
until then (`Executor.handle`), so the time a lease takes under load does not make them late."""


class Scheduler:
    """Keeps up to `workers` work items in flight.

    It sleeps until the earliest due item or until storage reports new work
    (`Storage.add_wake_listener`), so a new item starts within milliseconds; there is no
    polling tick. Leases are short (`lease_ms`) and renewed every third of that while an item
    is in flight, so a node that dies loses its work to the others within one lease, however
    long its calls take.
    """

    def __init__(
        self,
        storage: Storage,
        handler: Handler,
        *,
        clock: Clock,
        workers: int = 100,
        lease_ms: int = 30_000,
    ) -> None:
        self._storage = storage
        self._handler = handler
        self._clock = clock
        self._workers = workers
        self._lease_ms = lease_ms
        self._wake = asyncio.Event()
        self._backlog = False
        self._first_due: int | None = None
        self._slot_free = asyncio.Event()
        self._inflight: dict[asyncio.Task[None], WorkItem] = {}
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        storage.add_wake_listener(self.wake)

    def wake(self) -> None:
        """New work may be due: look now."""
        self._wake.set()
        self._backlog = True

    @property
    def in_flight(self) -> int:
        """How many leased work items this node is handling."""
        return len(self._inflight)

    @property
    def backlogged(self) -> bool:
        """Whether work may be due that no worker has taken: the last lease left some due, or
        new work was queued since. A worker then hands a run's next call to the queue rather
        than going straight on with it, so runs queued earlier are served first."""
        return self._backlog

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run(), name="surge-scheduler")
        self._heartbeat_task = asyncio.create_task(self._heartbeat(), name="surge-leases")

    async def stop(self, *, grace: float = 10.0) -> None:
        """Stop leasing; let in-flight items finish for `grace` seconds, then hand them back.

        Handed-back items are due again at once, for any node: nothing waits for a lease to
        lapse after a graceful shutdown.
        """
        self._stopping = True
        self._wake.set()
        self._slot_free.set()
        if self._loop_task is not None:
            await self._loop_task
        if self._inflight:
            _, pending = await asyncio.wait(self._inflight, timeout=grace)
            unfinished = [self._inflight[task] for task in pending]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            if unfinished:
                await self._storage.release(unfinished, now=self._clock.now())
                logger.info("handed back unfinished work", extra={"items": len(unfinished)})
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            await asyncio.gather(self._heartbeat_task, return_exceptions=True)

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self._tick()
            except Exception:
                logger.exception("scheduler tick failed; retrying shortly")
                await self._clock.sleep(0.5)

    async def _tick(self) -> None:
        free = self._workers - len(self._inflight)
        if free < max(1, self._workers // 10) and self._inflight:
            # Busy: lease again when a tenth of the workers are free, or as soon as one is
            # when a timer falls due (a timer's lateness counts, a backlog's order less so).
            now = self._clock.now()
            lead = now + LEASE_AHEAD_MS
            timer_due = self._first_due is not None and self._first_due <= lead
            if not (timer_due and free >= 1):
                self._slot_free.clear()
                until_timer = None if self._first_due is None else (self._first_due - lead) / 1000
                if until_timer is None or free < 1:
                    await self._slot_free.wait()
                else:
                    await self._clock.wait(self._slot_free, until_timer)
                return
        self._wake.clear()
        now = self._clock.now()
        leased = await self._storage.lease(
            now=now, limit=free, lease_ms=self._lease_ms, ahead_ms=LEASE_AHEAD_MS
        )
        next_due = leased.next_due_at
        self._first_due = leased.first_due_at
        self._backlog = self._wake.is_set() or (next_due is not None and next_due <= now)
        for item in leased.items:
            state = leased.states.get(item.run_id) if item.run_id is not None else None
            task = asyncio.create_task(self._handle(item, state))
            self._inflight[task] = item
            task.add_done_callback(self._done)
        if len(leased.items) == free or self._stopping:
            return
        timeout = IDLE_RECHECK_S
        if next_due is not None:
            timeout = min(timeout, max(0.0, (next_due - now) / 1000))
        if self._first_due is not None:
            timeout = min(timeout, max(0.0, (self._first_due - LEASE_AHEAD_MS - now) / 1000))
        if timeout > 0:
            await self._clock.wait(self._wake, timeout)

    async def _handle(self, item: WorkItem, state: RunState | None) -> None:
        """Run `item` (a call with its run's `state`, when the lease read it), then each next
        item the handler hands on (a run's next call, leased to this worker in the commit of
        the last), in this worker slot."""
        task = asyncio.current_task()
        current = item
        while True:
            if task is not None:
                self._inflight[task] = current  # the heartbeat renews its lease
            if self._stopping and current is not item:
                await self._storage.release([current], now=self._clock.now())
                return
            try:
                following = await self._handler(current, state)
            except Exception:
                # The lease lapses and the item runs again; nothing is lost.
                logger.exception(
                    "work item failed",
                    extra={"run_id": current.run_id, "step_id": current.step_id},
                )
                return
            if following is None:
                return
            current, state = following.item, following.state

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.pop(task, None)
        self._slot_free.set()

    async def _heartbeat(self) -> None:
        """Renew the leases of in-flight items every third of a lease."""
        while True:
            await self._clock.sleep(self._lease_ms / 3000)
            items = list(self._inflight.values())
            if not items:
                continue
            until = self._clock.now() + self._lease_ms
            try:
                await self._storage.extend_leases(items, until=until)
            except Exception:
                logger.exception("could not renew leases; other nodes may take the work over")
