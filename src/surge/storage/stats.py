"""The storage's counts over many rows (`rules/stats.py`): `Storage.stats`."""

from __future__ import annotations

from .connector import Connector
from .records import QueueStats, RunStatus
from .rules import stats

__all__ = ["StatsStore"]


class StatsStore:
    """Read-only counts for the metrics and the dashboard, each one grouped query."""

    def __init__(self, db: Connector) -> None:
        self._db = db

    async def queue_stats(self, *, now: int) -> QueueStats:
        """What the queue holds at `now`, cluster-wide: due work by kind, and each
        function's flow-control backlog."""
        return await self._db.run(lambda: stats.queue_stats(now), transaction=False)

    async def run_counts(
        self, function_id: str, *, start: int, bucket_ms: int, buckets: int
    ) -> dict[tuple[int, RunStatus], int]:
        """How many runs of `function_id` started in each of `buckets` consecutive spans of
        `bucket_ms` from `start`, by their status now: counts by (bucket index, status),
        empty ones left out. Reads only the function's runs in the window (an index range)."""
        return await self._db.run(
            lambda: stats.run_counts(
                function_id, start=start, bucket_ms=bucket_ms, buckets=buckets
            ),
            transaction=False,
        )
