"""Leasing due work for `Storage.lease`: the items, then the states of the runs they call."""

from __future__ import annotations

import logging
import secrets

from .connector import Connector
from .records import Leased, RunState, WorkKind
from .rules import queue, runs, slots

logger = logging.getLogger(__name__)


class Leases:
    """Leases due work items for one storage, remembering when the earliest timer or urgent
    call falls due, so a lease takes those first only when one may be due."""

    def __init__(self, connector: Connector) -> None:
        self._db = connector
        self._first_due: int | None = 0

    async def lease(self, *, now: int, limit: int, lease_ms: int, ahead_ms: int) -> Leased:
        """What `Storage.lease` documents."""
        token = secrets.token_hex(8) + ":"
        first = self._first_due is not None and self._first_due <= now + ahead_ms
        items, next_due, self._first_due = await self._db.run(
            lambda: queue.lease_due(
                now=now, limit=limit, lease_ms=lease_ms, token=token, first=first, ahead_ms=ahead_ms
            ),
            transaction=False,
        )
        if any(item.limits and not item.slots for item in items):
            leased = items
            items = await self._db.run(lambda: slots.acquire(leased))
        called = [i.run_id for i in items if i.kind is WorkKind.CALL and i.due_at <= now]
        states = await self._states_of([run_id for run_id in called if run_id is not None])
        return Leased(
            items=items, next_due_at=next_due, first_due_at=self._first_due, states=states
        )

    async def _states_of(self, run_ids: list[str]) -> dict[str, RunState]:
        """The states of the runs whose calls a lease took, read at once rather than one by
        one; none when the read fails: the items are leased already, and each call then
        reads its own run (a failure here must not strand them until their leases lapse)."""
        if not run_ids:
            return {}
        try:
            return await self._db.read(lambda: runs.load_run_states(run_ids))
        except Exception:
            logger.warning(
                "could not read the states of the runs just leased; each call reads its own",
                exc_info=True,
                extra={"runs": len(run_ids)},
            )
            return {}
