"""Cron triggers: the queued tick, the run it starts, the next tick, and re-syncs.

A real tick can be a minute away, so the tests lease the queued cron item themselves (at a
pretend time far in the future) and hand it to `engine.handle`, as the scheduler would.
"""

from __future__ import annotations

import asyncio
import datetime
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Harness, ScriptedApp

EVERY_MINUTE = "* * * * *"


async def clear_of_minute_boundary(server: Harness) -> None:
    """Wait out the last second of a minute, so the scheduler cannot fire the tick itself."""
    into_minute = server.now_ms() % 60_000
    if into_minute > 59_000:
        await asyncio.sleep((60_000 - into_minute) / 1000 + 0.05)


def rfc3339(ms: int) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


async def test_cron_tick_starts_a_run_and_queues_the_next_tick_once(
    server: Harness, sdk_app: ScriptedApp
) -> None:
    function = sdk_app.function("cr", "tick", [{"cron": EVERY_MINUTE}])
    sdk_app.script("cr-tick", [sdk_app.ok("ticked")])
    await clear_of_minute_boundary(server)
    registered_at = server.now_ms()
    await sdk_app.register(server, "cr", [function])

    dev = (await server.client.get("/dev")).json()
    assert [(f["slug"], f["triggers"]) for f in dev["functions"]] == [
        ("cr-tick", [{"cron": EVERY_MINUTE}])
    ]
    [tick] = await server.cron_items()
    fire_at = tick.payload["fire_at"]
    assert tick.payload["function_id"] == "cr-tick"
    assert registered_at < fire_at <= registered_at + 60_000
    assert fire_at % 60_000 == 0

    await server.engine.handle(tick)

    [run] = await server.get_data("/v1/runs", function_id="cr-tick")
    assert run["cron"] == EVERY_MINUTE
    event = await server.get_data(f"/v1/events/{run['event_id']}")
    assert event["name"] == "inngest/scheduled.timer"
    assert event["id"] == rfc3339(fire_at)
    assert event["data"]["cron"] == EVERY_MINUTE
    done = await server.wait_run(run["run_id"])
    assert (done["status"], done["output"]) == ("Completed", "ticked")
    [call] = sdk_app.calls("cr-tick")
    assert call.body["event"]["name"] == "inngest/scheduled.timer"
    [following] = await server.cron_items()
    assert following.payload["function_id"] == "cr-tick"
    assert following.payload["fire_at"] == fire_at + 60_000


async def test_resync_keeps_one_cron_item_per_schedule(
    asgi_server: Harness, sdk_app: ScriptedApp
) -> None:
    function = sdk_app.function("cr", "tick", [{"cron": EVERY_MINUTE}])
    await clear_of_minute_boundary(asgi_server)
    await sdk_app.register(asgi_server, "cr", [function])

    again = await sdk_app.register(asgi_server, "cr", [function])
    renamed = await sdk_app.register(asgi_server, "cr", [{**function, "name": "Tick"}])

    assert (again["modified"], renamed["modified"]) == (False, True)
    [item] = await asgi_server.cron_items()
    assert (item.payload["function_id"], item.payload["cron"]) == ("cr-tick", EVERY_MINUTE)


async def test_resync_with_a_new_schedule_replaces_the_cron_item(
    asgi_server: Harness, sdk_app: ScriptedApp
) -> None:
    function = sdk_app.function("cr", "tick", [{"cron": EVERY_MINUTE}])
    await clear_of_minute_boundary(asgi_server)
    await sdk_app.register(asgi_server, "cr", [function])

    await sdk_app.register(asgi_server, "cr", [{**function, "triggers": [{"cron": "0 9 * * *"}]}])

    [item] = await asgi_server.cron_items()
    assert item.payload["cron"] == "0 9 * * *"
    assert item.payload["fire_at"] % (24 * 3600 * 1000) == 9 * 3600 * 1000


async def test_dropping_the_cron_trigger_or_the_app_removes_the_cron_item(
    asgi_server: Harness, sdk_app: ScriptedApp
) -> None:
    function = sdk_app.function("cr", "tick", [{"cron": EVERY_MINUTE}])
    other = sdk_app.function("cr2", "tock", [{"cron": EVERY_MINUTE}])
    await clear_of_minute_boundary(asgi_server)
    await sdk_app.register(asgi_server, "cr", [function])
    await asgi_server.client.post(
        "/fn/register",
        json={**sdk_app.register_body("cr2", [other]), "url": "http://127.0.0.1:9/other"},
    )

    await sdk_app.register(asgi_server, "cr", [{**function, "triggers": [{"event": "cr/x"}]}])
    after_trigger_change = await asgi_server.cron_items()
    await asgi_server.client.delete("/fn/remove", params={"url": "http://127.0.0.1:9/other"})
    after_remove = await asgi_server.cron_items()

    assert [i.payload["function_id"] for i in after_trigger_change] == ["cr2-tock"]
    assert after_remove == []


async def test_two_functions_on_one_schedule_both_run_when_ticks_share_a_millisecond(
    asgi_server: Harness, sdk_app: ScriptedApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both timer events carry the same `id` (the scheduled time); neither may swallow the other."""
    functions = [
        sdk_app.function("cr", "first", [{"cron": EVERY_MINUTE}]),
        sdk_app.function("cr", "second", [{"cron": EVERY_MINUTE}]),
    ]
    sdk_app.script("cr-first", [sdk_app.ok("one")])
    sdk_app.script("cr-second", [sdk_app.ok("two")])
    await clear_of_minute_boundary(asgi_server)
    await sdk_app.register(asgi_server, "cr", functions)
    ticks = await asgi_server.cron_items()
    assert len(ticks) == 2
    frozen = asgi_server.now_ms()
    monkeypatch.setattr(asgi_server.node.clock, "now", lambda: frozen)

    for tick in ticks:
        await asgi_server.engine.handle(tick)

    runs = await asgi_server.get_data("/v1/runs")
    assert sorted(r["function_id"] for r in runs) == ["cr-first", "cr-second"]


async def test_a_jittered_tick_is_due_within_its_jitter_and_says_when_it_fired(
    server: Harness, sdk_app: ScriptedApp
) -> None:
    trigger = {"cron": EVERY_MINUTE, "jitter": "30s"}
    function = sdk_app.function("cr", "jittery", [trigger])
    sdk_app.script("cr-jittery", [sdk_app.ok("ticked")])
    await clear_of_minute_boundary(server)
    await sdk_app.register(server, "cr", [function])

    [tick] = await server.cron_items()
    scheduled = tick.payload["fire_at"]
    assert scheduled <= tick.due_at <= scheduled + 30_000
    await server.engine.handle(tick)

    [run] = await server.get_data("/v1/runs", function_id="cr-jittery")
    event = await server.get_data(f"/v1/events/{run['event_id']}")
    assert event["id"] == rfc3339(scheduled)  # one event per schedule, whatever the jitter
    assert event["data"]["scheduledAt"] == rfc3339(scheduled)
    assert event["data"]["fireAt"] == rfc3339(tick.due_at)
    [following] = await server.cron_items()
    assert following.payload["fire_at"] == scheduled + 60_000
    assert scheduled + 60_000 <= following.due_at <= scheduled + 90_000
