"""How a function's recent runs went: how many started in each span of a window, by how they
stand now, and the share of those that ended which failed (the dashboard's chart).

A window is one of `WINDOWS`, cut into equal buckets aligned on the epoch (whole hours, in
UTC), the last one holding now. One grouped query reads the counts (`Storage.stats`).
"""

from __future__ import annotations

from dataclasses import dataclass

from surge.core.clock import Clock
from surge.core.errors import InvalidInput
from surge.storage import RunStatus
from surge.storage.stats import StatsStore

__all__ = ["DEFAULT_WINDOW", "ENDED", "WINDOWS", "RunChart", "RunTally", "Throughput"]

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS

WINDOWS: dict[str, tuple[int, int]] = {
    "1h": (5 * MINUTE_MS, 12),
    "24h": (HOUR_MS, 24),
    "7d": (6 * HOUR_MS, 28),
}
"""Each window's name, with its bucket length (ms) and how many buckets it has."""
DEFAULT_WINDOW = "24h"

ENDED = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)
"""The statuses of runs that ran and ended: what a failure rate is a share of (a skipped run
never ran; a running one has not ended)."""


@dataclass(frozen=True, kw_only=True)
class RunTally:
    """The runs of a function started in [`start`, `end`), by their status now."""

    start: int
    end: int
    counts: dict[RunStatus, int]

    def count(self, status: RunStatus) -> int:
        return self.counts.get(status, 0)

    @property
    def started(self) -> int:
        return sum(self.counts.values())

    @property
    def ended(self) -> int:
        """How many ran and ended (`ENDED`)."""
        return sum(self.count(status) for status in ENDED)

    @property
    def failure_rate(self) -> float | None:
        """Failed over ended; `None` when none ended."""
        return self.count(RunStatus.FAILED) / self.ended if self.ended else None


@dataclass(frozen=True, kw_only=True)
class RunChart:
    """A function's runs over a window: one tally per bucket, oldest first, and their sum."""

    function_id: str
    window: str
    bucket_ms: int
    buckets: list[RunTally]
    total: RunTally
    now: int


class Throughput:
    """Charts of functions' recent runs, read when asked (nothing is kept)."""

    def __init__(self, stats: StatsStore, clock: Clock) -> None:
        self._stats = stats
        self._clock = clock

    async def function_runs(self, function_id: str, *, window: str = DEFAULT_WINDOW) -> RunChart:
        """The runs of `function_id` over `window` (a key of `WINDOWS`) up to now.

        Raises:
            InvalidInput: `window` is not one of `WINDOWS`.
        """
        if window not in WINDOWS:
            choices = ", ".join(WINDOWS)
            raise InvalidInput(f"window {window!r} is not one of {choices}", field="window")
        bucket_ms, buckets = WINDOWS[window]
        now = self._clock.now()
        start = (now // bucket_ms + 1 - buckets) * bucket_ms
        counts = await self._stats.run_counts(
            function_id, start=start, bucket_ms=bucket_ms, buckets=buckets
        )
        tallies = [
            RunTally(
                start=start + i * bucket_ms,
                end=start + (i + 1) * bucket_ms,
                counts={s: n for (b, s), n in counts.items() if b == i},
            )
            for i in range(buckets)
        ]
        total: dict[RunStatus, int] = {}
        for (_, status), n in counts.items():
            total[status] = total.get(status, 0) + n
        return RunChart(
            function_id=function_id,
            window=window,
            bucket_ms=bucket_ms,
            buckets=tallies,
            total=RunTally(start=start, end=start + buckets * bucket_ms, counts=total),
            now=now,
        )
