"""When a failed call is tried again."""

from __future__ import annotations

import random
from dataclasses import dataclass

from surge.core.durations import parse_time
from surge.core.errors import InvalidInput

MIN_RETRY_AFTER_MS = 1_000
MAX_RETRY_AFTER_MS = 24 * 3600 * 1000


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """Backoff between attempts of one step (or of a function-level call).

    With `interval` set, every retry waits that long (as `inngest dev --retry-interval`).
    Otherwise the wait doubles from `base` up to `cap`, with up to 25 % jitter taken off so
    that a fan-out whose runs all failed together does not retry in lockstep.
    """

    base: float = 2.0
    cap: float = 3600.0
    interval: float | None = None

    def delay_ms(self, attempt: int) -> int:
        """The wait before attempt `attempt + 1`, after attempt `attempt` (0-based) failed."""
        if self.interval is not None:
            return int(self.interval * 1000)
        delay = min(self.base * 2**attempt, self.cap)
        return int(delay * (1 - random.random() * 0.25) * 1000)


def retry_after_ms(header: str | None, now: int) -> int | None:
    """The due time an app asked for with `Retry-After` (seconds or a date), clamped.

    Returns `None` when the header is absent or unreadable. The result lies within
    [now + 1 s, now + 24 h], as in Inngest.
    """
    if not header:
        return None
    value = header.strip()
    due: int | None = None
    if value.isascii() and value.isdigit() and len(value) <= 7:
        due = now + int(value) * 1000
    else:
        try:
            due = parse_time(value)
        except (InvalidInput, ValueError):
            return None
    return max(now + MIN_RETRY_AFTER_MS, min(due, now + MAX_RETRY_AFTER_MS))
