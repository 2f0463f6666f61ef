"""Periodic upkeep: one work item (`UPKEEP_KEY`), so one node at a time does it, every
`UPKEEP_INTERVAL_MS`.

* Retention (``--retention``): what ended or arrived before the window is deleted in small
  batches (`rules/retention.py`), with a pause between them, so the hot path never waits long
  for the database; a turn does at most `MAX_BATCHES`, the next goes on.
* The node that ran the last turn exports the cluster-wide metrics (`metrics.py`) until a
  turn is overdue.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from surge.core.clock import Clock
from surge.storage import Commit, NewWorkItem, NextCall, Storage, WorkItem, WorkKind

logger = logging.getLogger(__name__)

UPKEEP_KEY = "upkeep"
UPKEEP_INTERVAL_MS = 10_000
PRUNE_BATCH = 500
"""How many runs (and events) one retention transaction deletes at most."""
MAX_BATCHES = 20
"""How many retention batches one turn runs; the next turn goes on."""
BATCH_PAUSE_S = 0.05
"""The pause between two batches, leaving the database to the hot path."""


def upkeep_item(due_at: int) -> NewWorkItem:
    return NewWorkItem(kind=WorkKind.UPKEEP, due_at=due_at, unique_key=UPKEEP_KEY)


class Upkeep:
    """Runs the upkeep item's turns."""

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        complete: Callable[[Commit], Awaitable[NextCall | None]],
        *,
        retention_ms: int | None,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._complete = complete
        self._retention_ms = retention_ms
        self._last_turn: int | None = None

    def exports_cluster_metrics(self) -> bool:
        """Whether this node ran the last upkeep turn, and the next is not overdue."""
        last = self._last_turn
        return last is not None and self._clock.now() - last < 3 * UPKEEP_INTERVAL_MS

    async def turn(self, item: WorkItem) -> None:
        """Run one turn, then queue the next (in the commit that ends this item)."""
        self._last_turn = self._clock.now()
        if self._retention_ms is not None:
            try:
                await self._prune()
            except Exception:
                logger.exception("retention failed; the next upkeep tries again")
        now = self._clock.now()
        await self._complete(
            Commit(item=item, at=now, enqueue=[upkeep_item(now + UPKEEP_INTERVAL_MS)])
        )

    async def _prune(self) -> None:
        assert self._retention_ms is not None
        cutoff = self._clock.now() - self._retention_ms
        runs = events = 0
        after: tuple[int, str] = (-1, "")
        for _ in range(MAX_BATCHES):
            pruned = await self._storage.prune(cutoff, limit=PRUNE_BATCH, events_after=after)
            runs, events = runs + pruned.runs, events + pruned.events
            if pruned.runs < PRUNE_BATCH and pruned.events_after is None:
                break
            after = pruned.events_after or after
            await self._clock.sleep(BATCH_PAUSE_S)
        if runs or events:
            logger.info(
                "retention deleted %d runs and %d events", runs, events, extra={"cutoff": cutoff}
            )
