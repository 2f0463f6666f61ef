"""Bulk replays: rerun every run of one function that ended in a time range with a chosen
status, in the background, at the pace the function's flow control allows.

A replay's runs are reruns (`ingest.rerun_of`): its concurrency and throttle apply, as the
downstream service has just recovered; its rate limit and idempotency key do not, or the
runs they skipped would be skipped again. The job (`rules/replays.py`) starts a batch and
moves its cursor in one transaction under its work item's lease, so on any number of nodes
each run is replayed once. While the function is paused the job waits.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

from surge.core.clock import Clock
from surge.core.errors import Conflict, InvalidInput, NotFound, StaleLease
from surge.core.ids import new_ulid
from surge.storage import Replay, RunStatus, Storage, WorkItem

from .ingest import rerun_of
from .registry import Registry

logger = logging.getLogger(__name__)

REPLAY_BATCH = 200
"""How many runs a replay's job reruns per turn in the queue (one transaction)."""
PAUSED_RETRY_MS = 1000
"""How long a replay's job waits before looking again while its function is paused."""
REPLAYABLE = frozenset(
    {RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.SKIPPED, RunStatus.COMPLETED}
)
"""The statuses a replay selects runs by (ended runs)."""


class Replays:
    """Creates bulk replays and carries out their jobs."""

    def __init__(self, storage: Storage, registry: Registry, clock: Clock) -> None:
        self._storage = storage
        self._registry = registry
        self._clock = clock

    async def create(
        self,
        function_id: str,
        *,
        started_after: int,
        started_before: int,
        statuses: Sequence[str],
        by: str,
        preview: bool = False,
    ) -> Replay:
        """A replay of the runs of `function_id` (a slug) started in [`started_after`,
        `started_before`) with one of `statuses`; `total` says how many. Started unless
        `preview`: then only counted, and nothing is stored.

        Raises:
            InvalidInput: No such function, an empty time range, or a status that is not one
                of an ended run.
            Conflict: The function is paused (resume it first).
        """
        chosen = _statuses(statuses)
        snapshot = await self._registry.load()
        function = snapshot.functions.get(function_id)
        if function is None:
            raise InvalidInput(f"no function {function_id!r} is registered", field="function_id")
        if function_id in snapshot.suspended:
            raise Conflict(f"function {function_id!r} is paused: resume it before replaying it")
        now = self._clock.now()
        if started_after >= min(started_before, now):
            raise InvalidInput(
                "started_after must be before started_before and before now",
                field="started_after",
            )
        app_id = next(f.app_id for f in snapshot.state.functions if f.id == function_id)
        replay = Replay(
            id=new_ulid(now),
            app_id=app_id,
            function_id=function_id,
            started_after=started_after,
            started_before=min(started_before, now),
            statuses=chosen,
            created_at=now,
            requested_by=by,
            total=0,
        )
        if preview:
            total = await self._storage.count_replayable(
                function_id,
                started_after=replay.started_after,
                started_before=replay.started_before,
                statuses=chosen,
            )
            return replace(replay, total=total)
        return await self._storage.create_replay(replay)

    async def get(self, replay_id: str) -> Replay:
        """The replay with its progress. `NotFound`."""
        replay = await self._storage.get_replay(replay_id)
        if replay is None:
            raise NotFound(f"no replay {replay_id!r}")
        return replay

    async def list(self, *, limit: int, before: str | None = None) -> list[Replay]:
        """The `limit` newest replays (after the page ending with id `before`), newest first,
        with their progress."""
        return await self._storage.list_replays(limit=limit, before=before)

    async def go_on(self, item: WorkItem) -> None:
        """Go on with a replay's job: rerun its next batch of runs and move on past them."""
        replay_id = str(item.payload.get("replay"))
        after = str(item.payload.get("after") or "")
        replay, runs = await self._storage.replay_batch(replay_id, after=after, limit=REPLAY_BATCH)
        now = self._clock.now()
        snapshot = await self._registry.load()  # as stored: this node may not have seen a sync
        function = None if replay is None else snapshot.functions.get(replay.function_id)
        try:
            if replay is None or function is None:  # gone: the job ends
                await self._storage.replay_progress(item, [], by="", after=None, at=now)
            elif replay.function_id in snapshot.suspended:
                await self._storage.replay_progress(
                    item, [], by="", after=after, at=now + PAUSED_RETRY_MS
                )
            else:
                reruns = [
                    rerun_of(function, run, [event], now=now, replay_id=replay.id)
                    for run, event in runs
                ]
                last = runs[-1][0].id if len(runs) == REPLAY_BATCH else None
                await self._storage.replay_progress(
                    item, reruns, by=replay.requested_by, after=last, at=now
                )
        except StaleLease:
            logger.warning("lease lost during a replay; it will go on from its last batch")


def _statuses(statuses: Sequence[str]) -> tuple[str, ...]:
    known = {status.value: status for status in REPLAYABLE}
    if not statuses:
        raise InvalidInput("statuses must name at least one status", field="statuses")
    for status in statuses:
        if status not in known:
            names = ", ".join(sorted(known))
            raise InvalidInput(
                f"status {status!r} cannot be replayed (choose from {names})", field="statuses"
            )
    return tuple(sorted(set(statuses)))
