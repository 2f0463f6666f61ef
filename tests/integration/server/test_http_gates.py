"""Idempotency, rate limits, throttles and priority through the server, on both databases."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conftest import Harness, Received, ScriptedApp


def gated(sdk_app: ScriptedApp, name: str, **options: Any) -> dict[str, Any]:
    function = sdk_app.function("gates", name, [{"event": f"gates/{name}"}])
    function.update(options)
    return function


async def send(server: Harness, name: str, datas: list[dict[str, Any]]) -> list[str]:
    return await server.send([{"name": f"gates/{name}", "data": data} for data in datas])


async def only_run(server: Harness, event_id: str) -> dict[str, Any]:
    [run] = await server.wait_event_runs(event_id, 1)
    return run


async def test_an_idempotency_key_starts_one_run_and_records_the_skips(
    any_db: Harness, sdk_app: ScriptedApp
) -> None:
    function = gated(sdk_app, "charge", idempotency="event.data.order")
    sdk_app.script(function["id"], lambda call: sdk_app.ok("charged"))
    await sdk_app.register(any_db, "gates", [function])

    ids = await send(any_db, "charge", [{"order": 7}, {"order": 7}, {"order": 8}])
    await asyncio.sleep(0)
    again = await send(any_db, "charge", [{"order": 7}])

    runs = [await only_run(any_db, i) for i in [*ids, *again]]
    assert [(r["status"], r["skip_reason"]) for r in runs] == [
        ("Completed", None),
        ("Skipped", "idempotency"),
        ("Completed", None),
        ("Skipped", "idempotency"),
    ]
    assert len(sdk_app.calls(function["id"])) == 2
    skipped = await any_db.run(runs[1]["run_id"])
    assert skipped["ended_at"] is not None and skipped["output"] is None


async def test_a_rate_limit_skips_excess_events_per_key_and_not_other_functions(
    any_db: Harness, sdk_app: ScriptedApp
) -> None:
    limited = gated(sdk_app, "sync", rateLimit={"limit": 1, "period": "1h", "key": "event.data.co"})
    other = sdk_app.function("gates", "audit", [{"event": "gates/sync"}])
    for function in (limited, other):
        sdk_app.script(function["id"], lambda call: sdk_app.ok("done"))
    await sdk_app.register(any_db, "gates", [limited, other])

    ids = await send(any_db, "sync", [{"co": "a"}, {"co": "a"}, {"co": "b"}, {"co": "a"}])

    outcomes = []
    for event_id in ids:
        runs = await any_db.wait_event_runs(event_id, 2)
        by_function = {r["function_id"]: r for r in runs}
        assert by_function[other["id"]]["status"] == "Completed"  # every event audits
        run = by_function[limited["id"]]
        outcomes.append((run["status"], run["skip_reason"]))
    assert outcomes == [
        ("Completed", None),
        ("Skipped", "rate_limit"),
        ("Completed", None),
        ("Skipped", "rate_limit"),
    ]


async def test_a_throttle_paces_run_starts_and_drops_none(
    any_db: Harness, sdk_app: ScriptedApp
) -> None:
    # 2 per 1.2 s with a burst of 1: three start at once, then one every 0.6 s.
    function = gated(sdk_app, "paced", throttle={"limit": 2, "period": "1200ms", "burst": 1})
    starts: list[float] = []

    def record(call: Received) -> Any:
        starts.append(time.monotonic())
        return sdk_app.ok("done")

    sdk_app.script(function["id"], record)
    await sdk_app.register(any_db, "gates", [function])

    sent = time.monotonic()
    ids = await send(any_db, "paced", [{"n": n} for n in range(7)])

    runs = [await only_run(any_db, i) for i in ids]
    assert {r["status"] for r in runs} == {"Completed"}
    offsets = sorted(s - sent for s in starts)
    assert offsets[2] < 0.5  # the burst: limit + burst at once
    # Never ahead of the pace: the k-th start after the burst waits k intervals from the send
    # (the throttle's clock starts when the events are stored, after `sent`), give or take the
    # server's clock, which counts whole milliseconds (measured: 1.7994 s for the third).
    for k, offset in enumerate(offsets[3:], start=1):
        assert offset >= k * 0.6 - 0.001, offsets


async def test_priority_starts_a_later_run_ahead_behind_a_full_limit(
    any_db: Harness, sdk_app: ScriptedApp
) -> None:
    function = gated(
        sdk_app,
        "ranked",
        concurrency=[{"limit": 1}],
        priority={"run": "event.data.vip ? 120 : 0"},
    )
    order: list[str] = []
    release = asyncio.Event()

    async def serve(call: Received) -> Any:
        order.append(call.body["event"]["data"]["name"])
        if len(order) == 1:
            await release.wait()  # hold the only slot while the others queue
        return sdk_app.ok("done")

    sdk_app.script(function["id"], serve)
    await sdk_app.register(any_db, "gates", [function])

    [first] = await send(any_db, "ranked", [{"name": "first", "vip": False}])
    await sdk_app.wait_calls(function["id"], 1)
    ids = await send(
        any_db,
        "ranked",
        [{"name": "plain-1", "vip": False}, {"name": "plain-2", "vip": False}],
    )
    ids += await send(any_db, "ranked", [{"name": "vip", "vip": True}])
    release.set()

    for event_id in [first, *ids]:
        assert (await only_run(any_db, event_id))["status"] == "Completed"
    assert order == ["first", "vip", "plain-1", "plain-2"]


async def test_a_debounce_runs_once_with_the_last_event(
    any_db: Harness, sdk_app: ScriptedApp
) -> None:
    function = gated(sdk_app, "settle", debounce={"period": "1s", "key": "event.data.doc"})
    sdk_app.script(function["id"], lambda call: sdk_app.ok(call.body["event"]["data"]["v"]))
    await sdk_app.register(any_db, "gates", [function])

    ids = []
    for v in range(3):
        ids += await send(any_db, "settle", [{"doc": "a", "v": v}])
        await asyncio.sleep(0.2)
    ids += await send(any_db, "settle", [{"doc": "b", "v": 9}])

    last_a = await only_run(any_db, ids[2])
    only_b = await only_run(any_db, ids[3])
    assert (last_a["output"], only_b["output"]) == (2, 9)
    assert last_a["batch_id"] is not None
    assert len(sdk_app.calls(function["id"])) == 2
    for superseded in ids[:2]:  # never start a run of their own
        assert await any_db.event_runs(superseded) == []


async def test_a_batch_delivers_every_event_exactly_once(
    any_db: Harness, sdk_app: ScriptedApp
) -> None:
    function = gated(sdk_app, "bulk", batchEvents={"maxSize": 3, "timeout": "1s"})
    sizes: list[list[int]] = []

    def handle(call: Received) -> Any:
        numbers = [e["data"]["n"] for e in call.body["events"]]
        sizes.append(numbers)
        assert call.body["event"] == call.body["events"][0]
        return sdk_app.ok(numbers)

    sdk_app.script(function["id"], handle)
    await sdk_app.register(any_db, "gates", [function])

    ids = await send(any_db, "bulk", [{"n": n} for n in range(7)])

    runs = {r["run_id"]: r for i in ids for r in [await only_run(any_db, i)]}
    assert sorted(tuple(r["output"]) for r in runs.values()) == [(0, 1, 2), (3, 4, 5), (6,)]
    assert {len(r["event_ids"]) for r in runs.values()} == {1, 3}
    assert sorted(n for batch in sizes for n in batch) == list(range(7))
    assert all(r["batch_id"] for r in runs.values())


async def test_events_a_batch_if_rejects_run_at_once_alone(
    any_db: Harness, sdk_app: ScriptedApp
) -> None:
    function = gated(
        sdk_app, "maybe", batchEvents={"maxSize": 50, "timeout": "60s", "if": "event.data.bulk"}
    )
    sdk_app.script(function["id"], lambda call: sdk_app.ok(len(call.body["events"])))
    await sdk_app.register(any_db, "gates", [function])

    [urgent] = await send(any_db, "maybe", [{"bulk": False}])

    run = await only_run(any_db, urgent)
    assert (run["output"], run["batch_id"]) == (1, None)


async def test_a_run_and_an_event_say_why_work_waits(any_db: Harness, sdk_app: ScriptedApp) -> None:
    throttled = gated(
        sdk_app, "slow", throttle={"limit": 1, "period": "1h"}, concurrency=[{"limit": 1}]
    )
    batched = gated(sdk_app, "gathered", batchEvents={"maxSize": 10, "timeout": "60s"})
    rated = gated(sdk_app, "rare", rateLimit={"limit": 1, "period": "1h"})
    release = asyncio.Event()

    async def hold(call: Received) -> Any:
        await release.wait()
        return sdk_app.ok("done")

    sdk_app.script(throttled["id"], hold)
    sdk_app.script(rated["id"], lambda call: sdk_app.ok("done"))
    await sdk_app.register(any_db, "gates", [throttled, batched, rated])

    first, second = await send(any_db, "slow", [{}, {}])
    [in_batch] = await send(any_db, "gathered", [{"n": 1}])
    kept, skipped = await send(any_db, "rare", [{}, {}])

    await sdk_app.wait_calls(throttled["id"], 1)
    [waiting_run] = await any_db.event_runs(second)
    run = await any_db.run(waiting_run["run_id"])
    assert run["waiting"]["reason"] == "throttle"
    assert any_db.parse_iso(run["waiting"]["until"]) > any_db.now_ms() + 3_000_000
    [running] = await any_db.event_runs(first)
    assert (await any_db.run(running["run_id"]))["waiting"] is None  # its step is running

    event = await any_db.get_data(f"/v1/events/{in_batch}")
    [pending] = event["pending"]
    assert (pending["kind"], pending["function_id"], event["runs"]) == ("batch", batched["id"], [])
    assert any_db.parse_iso(pending["closes_at"]) > any_db.now_ms() + 50_000

    await only_run(any_db, kept)
    event = await any_db.get_data(f"/v1/events/{skipped}")
    [summary] = event["runs"]
    assert (summary["status"], summary["skip_reason"], event["pending"]) == (
        "Skipped",
        "rate_limit",
        [],
    )
    release.set()


async def test_a_run_behind_a_full_concurrency_key_says_so(
    any_db: Harness, sdk_app: ScriptedApp
) -> None:
    function = gated(sdk_app, "single", concurrency=[{"limit": 1}])
    release = asyncio.Event()

    async def hold(call: Received) -> Any:
        await release.wait()
        return sdk_app.ok("done")

    sdk_app.script(function["id"], hold)
    await sdk_app.register(any_db, "gates", [function])
    _, second = await send(any_db, "single", [{}, {}])
    await sdk_app.wait_calls(function["id"], 1)

    [queued] = await any_db.event_runs(second)
    waiting = (await any_db.run(queued["run_id"]))["waiting"]

    assert waiting == {"reason": "concurrency", "until": None}
    release.set()
    assert (await only_run(any_db, second))["status"] == "Completed"
