"""Cron schedules: the next fire time and the ``inngest/scheduled.timer`` event."""

from __future__ import annotations

import random
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter

from surge.core.durations import parse_duration
from surge.core.events import SCHEDULED_TIMER, internal_event
from surge.core.functions import CronTrigger

__all__ = ["jittered", "next_fire", "rfc3339", "timer_event"]


def _zone(trigger: CronTrigger) -> tzinfo:
    return ZoneInfo(trigger.timezone) if trigger.timezone else UTC


def next_fire(trigger: CronTrigger, after_ms: int) -> int:
    """Return the next time `trigger` fires, strictly after `after_ms`.

    The schedule is read in the trigger's ``TZ=`` zone (UTC without one), so ``0 9 * * *``
    with ``TZ=Europe/Paris`` fires at 09:00 Paris time across DST changes.

    Args:
        trigger: The cron trigger.
        after_ms: Epoch milliseconds; the result is later than this.

    Returns:
        Epoch milliseconds of the next fire (always a whole minute).

    Raises:
        ValueError: The schedule never fires.
    """
    zone = _zone(trigger)
    start = datetime.fromtimestamp(after_ms / 1000, tz=UTC).astimezone(zone)
    try:
        fire = croniter(trigger.schedule, start).get_next(datetime)
    except Exception as exc:  # croniter raises its own CroniterBadDateError
        raise ValueError(f"cron {trigger.cron!r} has no next fire time: {exc}") from None
    fire_ms = int(fire.timestamp() * 1000)
    if fire_ms <= after_ms:  # croniter ignores sub-second parts of `start`
        return next_fire(trigger, fire_ms + 1000)
    return fire_ms


def jittered(trigger: CronTrigger, scheduled_ms: int) -> int:
    """When a fire scheduled at `scheduled_ms` is due: later by a random delay of up to the
    trigger's ``jitter`` (none without one), so that many schedules on one minute spread."""
    if not trigger.jitter:
        return scheduled_ms
    return scheduled_ms + random.randint(0, int(parse_duration(trigger.jitter) * 1000))


def rfc3339(ms: int) -> str:
    """Format epoch milliseconds as RFC 3339 UTC with whole seconds (``2024-05-01T09:00:00Z``)."""
    return datetime.fromtimestamp(ms // 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def timer_event(
    trigger: CronTrigger, fire_ms: int, *, scheduled_ms: int | None = None
) -> dict[str, Any]:
    """Build the ``inngest/scheduled.timer`` event for one fire (`docs/protocol.md`,
    "Internal events").

    Args:
        trigger: The cron trigger that fired.
        fire_ms: When the run is started, in epoch ms (the scheduled time plus any jitter).
        scheduled_ms: The schedule time, if different from `fire_ms` (jitter).

    Returns:
        The event: ``id`` is the scheduled time in RFC 3339, ``data`` holds ``cron``,
        ``scheduledAt`` and ``fireAt`` (RFC 3339), and ``ts`` is `fire_ms`.
    """
    scheduled = fire_ms if scheduled_ms is None else scheduled_ms
    data = {"cron": trigger.cron, "scheduledAt": rfc3339(scheduled), "fireAt": rfc3339(fire_ms)}
    return internal_event(SCHEDULED_TIMER, data, id=rfc3339(scheduled), ts=fire_ms)
