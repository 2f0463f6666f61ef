from __future__ import annotations

import pytest

from surge.core.durations import parse_time
from surge.core.functions import CronTrigger
from surge.engine.cron import jittered, next_fire, rfc3339, timer_event


def at(text: str) -> int:
    return parse_time(text)


def test_next_fire_every_minute_is_strictly_after() -> None:
    every = CronTrigger(cron="* * * * *")
    assert next_fire(every, at("2024-05-01T08:00:00Z")) == at("2024-05-01T08:01:00Z")
    assert next_fire(every, at("2024-05-01T08:00:00.500Z")) == at("2024-05-01T08:01:00Z")
    assert next_fire(every, at("2024-05-01T07:59:59.999Z")) == at("2024-05-01T08:00:00Z")


def test_next_fire_utc_by_default() -> None:
    daily = CronTrigger(cron="0 9 * * *")
    assert next_fire(daily, at("2024-05-01T08:00:00Z")) == at("2024-05-01T09:00:00Z")
    assert next_fire(daily, at("2024-05-01T09:00:00Z")) == at("2024-05-02T09:00:00Z")


def test_next_fire_honors_timezone_and_dst() -> None:
    paris = CronTrigger(cron="TZ=Europe/Paris 0 9 * * *", timezone="Europe/Paris")
    # Summer (UTC+2) then winter (UTC+1).
    assert next_fire(paris, at("2024-05-01T00:00:00Z")) == at("2024-05-01T07:00:00Z")
    assert next_fire(paris, at("2024-12-01T00:00:00Z")) == at("2024-12-01T08:00:00Z")
    # Across the 2024-10-27 change.
    assert next_fire(paris, at("2024-10-26T08:00:00Z")) == at("2024-10-27T08:00:00Z")


def test_next_fire_never() -> None:
    with pytest.raises(ValueError, match="no next fire"):
        next_fire(CronTrigger(cron="0 0 30 2 *"), at("2024-01-01T00:00:00Z"))


def test_rfc3339() -> None:
    assert rfc3339(at("2024-05-01T09:00:00.250Z")) == "2024-05-01T09:00:00Z"


def test_timer_event() -> None:
    trigger = CronTrigger(cron="TZ=Europe/Paris 0 9 * * *", timezone="Europe/Paris")
    fire = at("2024-05-01T07:00:00Z")
    assert timer_event(trigger, fire) == {
        "name": "inngest/scheduled.timer",
        "id": "2024-05-01T07:00:00Z",
        "data": {
            "cron": "TZ=Europe/Paris 0 9 * * *",
            "scheduledAt": "2024-05-01T07:00:00Z",
            "fireAt": "2024-05-01T07:00:00Z",
        },
        "ts": fire,
        "user": {},
    }


def test_timer_event_with_jitter_keeps_scheduled_id() -> None:
    trigger = CronTrigger(cron="0 9 * * *", jitter="30s")
    scheduled = at("2024-05-01T09:00:00Z")
    event = timer_event(trigger, scheduled + 12_000, scheduled_ms=scheduled)
    assert event["id"] == "2024-05-01T09:00:00Z"
    assert event["data"]["fireAt"] == "2024-05-01T09:00:12Z"
    assert event["ts"] == scheduled + 12_000


def test_jitter_delays_a_fire_by_up_to_its_duration() -> None:
    scheduled = 1_700_000_040_000
    delays = {
        jittered(CronTrigger(cron="* * * * *", jitter="2s"), scheduled) - scheduled
        for _ in range(400)
    }

    assert jittered(CronTrigger(cron="* * * * *"), scheduled) == scheduled
    assert min(delays) >= 0 and max(delays) <= 2000
    assert len(delays) > 100  # spread over the window, not one fixed delay
