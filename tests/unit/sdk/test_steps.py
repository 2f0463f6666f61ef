"""The opcodes the SDK reports for each step tool, in process (`docs/protocol.md`, "Opcodes"
and "Step planning and parallel steps")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

import surge
from surge.core.ids import hash_step_id as h
from surge.sdk._comm import CommResponse


def ops(response: CommResponse) -> list[dict[str, Any]]:
    assert response.status == 206, (response.status, response.body)
    decoded: list[dict[str, Any]] = orjson.loads(response.body)
    return decoded


async def test_first_new_step_runs_at_once_and_reports_step_run(
    dev_client: surge.Surge, call: Any
) -> None:
    @dev_client.create_function(fn_id="f", trigger="t/event")
    async def f(ctx: surge.Context) -> int:
        a = await ctx.step.run("a", lambda: 40)
        b = await ctx.step.run("b", lambda x: x + 2, a)
        return int(b)

    invoke = call(dev_client, [f])
    first = ops(await invoke("f"))
    timing = first[0].pop("timing")  # when it ran, as the TypeScript SDK reports it (ns)
    assert timing["a"] > 1_700_000_000 * 10**9 and 0 <= timing["b"] < 10 * 10**9, timing
    assert first == [
        {
            "op": "StepRun",
            "id": h("a"),
            "name": "a",
            "displayName": "a",
            "opts": None,
            "data": 40,
            "userland": {"id": "a", "index": None},
        }
    ]
    second = ops(await invoke("f", {h("a"): {"data": 40}}))
    assert [(o["op"], o["id"], o["data"]) for o in second] == [("StepRun", h("b"), 42)]
    done = await invoke("f", {h("a"): {"data": 40}, h("b"): {"data": 42}})
    assert done.status == 200 and done.body == b"42"
    assert done.headers["x-inngest-sdk"].startswith("surge-py:v")
    assert done.headers["x-inngest-req-version"] == "2"


async def test_repeated_step_ids_hash_with_an_index(dev_client: surge.Surge, call: Any) -> None:
    @dev_client.create_function(fn_id="loop", trigger="t/event")
    async def loop(ctx: surge.Context) -> list[int]:
        return [await ctx.step.run("item", lambda i=i: i) for i in range(3)]

    invoke = call(dev_client, [loop])
    memos = {h("item"): {"data": 0}}
    (op,) = ops(await invoke("loop", memos))
    assert op["id"] == h("item", 1) == h("item:1")
    assert op["userland"] == {"id": "item", "index": 1}
    memos[h("item:1")] = {"data": 1}
    (op,) = ops(await invoke("loop", memos))
    assert op["id"] == h("item:2")


async def test_disable_immediate_execution_plans_instead_of_running(
    dev_client: surge.Surge, call: Any
) -> None:
    ran = []

    @dev_client.create_function(fn_id="f", trigger="t/event")
    async def f(ctx: surge.Context) -> None:
        await ctx.step.run("a", lambda: ran.append(1))

    (op,) = ops(await call(dev_client, [f])("f", plan_only=True))
    assert op["op"] == "StepPlanned" and op["id"] == h("a") and ran == []


async def test_parallel_plans_every_branch_then_runs_the_targeted_one(
    dev_client: surge.Surge, call: Any
) -> None:
    @dev_client.create_function(fn_id="p", trigger="t/event")
    async def p(ctx: surge.Context) -> list[str]:
        a, b = await ctx.step.parallel(
            lambda: ctx.step.run("a", lambda: "A"), lambda: ctx.step.run("b", lambda: "B")
        )
        return [a, b]

    invoke = call(dev_client, [p])
    planned = ops(await invoke("p"))
    assert [(o["op"], o["id"]) for o in planned] == [
        ("StepPlanned", h("a")),
        ("StepPlanned", h("b")),
    ]
    (run_b,) = ops(await invoke("p", step_id=h("b")))
    assert (run_b["op"], run_b["id"], run_b["data"]) == ("StepRun", h("b"), "B")
    (run_a,) = ops(await invoke("p", {h("b"): {"data": "B"}}, step_id=h("a")))
    assert (run_a["op"], run_a["data"]) == ("StepRun", "A")
    done = await invoke("p", {h("a"): {"data": "A"}, h("b"): {"data": "B"}})
    assert orjson.loads(done.body) == ["A", "B"]


async def test_race_returns_the_first_branch_to_finish(dev_client: surge.Surge, call: Any) -> None:
    @dev_client.create_function(fn_id="r", trigger="t/event")
    async def r(ctx: surge.Context) -> str:
        return await ctx.step.race(
            lambda: ctx.step.run("slow", lambda: "slow"),
            lambda: ctx.step.run("fast", lambda: "fast"),
        )

    invoke = call(dev_client, [r])
    planned = ops(await invoke("r"))
    assert all(o["opts"] == {"parallelMode": "race"} for o in planned)
    done = await invoke("r", {h("fast"): {"data": "fast"}})
    assert orjson.loads(done.body) == "fast"


async def test_sleep_wait_and_invoke_report_their_opcodes(
    dev_client: surge.Surge, call: Any
) -> None:
    @dev_client.create_function(fn_id="child", trigger="t/child")
    async def child(ctx: surge.Context) -> int:
        return 7

    @dev_client.create_function(fn_id="waits", trigger="t/event")
    async def waits(ctx: surge.Context) -> Any:
        await ctx.step.sleep("nap", timedelta(minutes=90))
        await ctx.step.sleep_until("alarm", datetime(2030, 1, 1, tzinfo=UTC))
        got = await ctx.step.wait_for_event(
            "approval", "t/approved", timeout="1h", if_exp="async.data.id == event.data.id"
        )
        result = await ctx.step.invoke("call-child", child, data={"x": 1}, timeout="5m")
        return [got.data if got else None, result]

    invoke = call(dev_client, [waits, child])
    memos: dict[str, Any] = {}
    (sleep,) = ops(await invoke("waits", memos))
    assert (sleep["op"], sleep["name"], sleep["displayName"]) == ("Sleep", "1h30m", "nap")
    memos[sleep["id"]] = None
    (until,) = ops(await invoke("waits", memos))
    assert until["name"] == "2030-01-01T00:00:00.000Z"
    memos[until["id"]] = None
    (wait,) = ops(await invoke("waits", memos))
    assert wait["op"] == "WaitForEvent" and wait["name"] == "t/approved"
    assert wait["opts"] == {
        "event": "t/approved",
        "timeout": "1h",
        "if": "async.data.id == event.data.id",
    }
    memos[wait["id"]] = {"name": "t/approved", "data": {"ok": True}, "id": "x", "ts": 5}
    (inv,) = ops(await invoke("waits", memos))
    assert inv["op"] == "InvokeFunction"
    assert inv["opts"] == {
        "function_id": "app-child",
        "payload": {"data": {"x": 1}},
        "timeout": "5m",
    }
    memos[inv["id"]] = {"data": 7}
    done = await invoke("waits", memos)
    assert orjson.loads(done.body) == [{"ok": True}, 7]


async def test_wait_for_event_timeout_returns_none(dev_client: surge.Surge, call: Any) -> None:
    @dev_client.create_function(fn_id="w", trigger="t/event")
    async def w(ctx: surge.Context) -> bool:
        return await ctx.step.wait_for_event("approval", "t/ok", timeout=60) is None

    done = await call(dev_client, [w])("w", {h("approval"): None})
    assert done.body == b"true"


async def test_invoke_failure_raises_step_error(dev_client: surge.Surge, call: Any) -> None:
    @dev_client.create_function(fn_id="i", trigger="t/event")
    async def i(ctx: surge.Context) -> str:
        try:
            await ctx.step.invoke("call", "other-app-fn")
        except surge.StepError as exc:
            return exc.message
        return "no error"

    memo = {h("call"): {"error": {"name": "Error", "message": "child failed"}}}
    done = await call(dev_client, [i])("i", memo)
    assert done.body == b'"child failed"'
