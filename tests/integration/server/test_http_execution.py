"""Running functions: the server calls a scripted SDK app and reads its answers
(`docs/protocol.md`, "Execution")."""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import TYPE_CHECKING, Any

import orjson
import pytest

from surge.engine.scheduler import LEASE_AHEAD_MS

if TYPE_CHECKING:
    from conftest import Harness, Received, Reply, ScriptedApp

A = "a" * 40
B = "b" * 40
S = "5" * 40
Z = "2" * 40


async def start(
    server: Harness,
    sdk_app: ScriptedApp,
    name: str,
    replies: Any,
    *,
    retries: int | None = 0,
    url: str | None = None,
    data: dict[str, Any] | None = None,
) -> str:
    """Register `exe-<name>` answering with `replies` and send its event; return the run id."""
    function = sdk_app.function("exe", name, [{"event": f"exe/{name}"}], retries=retries, url=url)
    sdk_app.script(function["id"], replies)
    await sdk_app.register(server, "exe", [function])
    [event_id] = await server.send({"name": f"exe/{name}", "data": data or {}})
    [run] = await server.event_runs(event_id)
    assert run["function_id"] == function["id"]
    run_id: str = run["run_id"]
    return run_id


def assert_python_sdk_accepts(calls: list[Received]) -> None:
    rejected = [(c.step_id, c.sdk_parse_error) for c in calls if c.sdk_parse_error]
    assert not rejected, f"inngest-py would refuse these requests: {rejected}"


async def test_function_answering_200_completes_with_its_output(
    server: Harness, sdk_app: ScriptedApp
) -> None:
    run_id = await start(server, sdk_app, "plain", [sdk_app.ok({"sum": 3})], data={"x": 1})

    run = await server.wait_run(run_id)

    assert run["status"] == "Completed"
    assert run["output"] == {"sum": 3}
    assert run["error"] is None
    assert run["ended_at"] is not None
    [call] = sdk_app.calls("exe-plain")
    assert call.step_id == "step"
    assert call.body["event"]["data"] == {"x": 1}
    assert call.body["ctx"]["run_id"] == run_id
    assert call.headers["x-run-id"] == run_id
    [finished] = await server.events(name="inngest/function.finished")
    assert finished["data"]["run_id"] == run_id
    assert finished["data"]["result"] == {"sum": 3}
    assert_python_sdk_accepts([call])


async def test_step_run_memo_is_sent_on_the_next_call(
    asgi_server: Harness, sdk_app: ScriptedApp
) -> None:
    replies = [sdk_app.ops(sdk_app.step_run(S, {"v": 1})), sdk_app.ok("done")]
    run_id = await start(asgi_server, sdk_app, "memo", replies)

    run = await asgi_server.wait_run(run_id)

    assert (run["status"], run["output"]) == ("Completed", "done")
    first, second = sdk_app.calls("exe-memo")
    assert first.body["steps"] == {}
    assert first.ctx["stack"] == {"stack": [], "current": 0}
    assert second.step_id == "step"
    assert second.body["steps"] == {S: {"data": {"v": 1}}}
    assert second.ctx["stack"] == {"stack": [S], "current": 1}
    assert second.ctx["attempt"] == 0
    actions = (await asgi_server.client.get(f"/v0/runs/{run_id}/actions")).json()
    assert actions == {S: {"data": {"v": 1}}}
    assert_python_sdk_accepts([first, second])


async def test_parallel_planned_steps_fan_in_before_discovery(
    asgi_server: Harness, sdk_app: ScriptedApp
) -> None:
    early_discovery = asyncio.Event()
    run_ids: list[str] = []

    async def a_committed() -> bool:
        history = await asgi_server.history(run_ids[0])
        return any(h["kind"] == "step_completed" and h["step_id"] == A for h in history)

    async def reply(call: Received) -> Reply:
        if call.step_id == "step":
            if not call.body["steps"]:
                return sdk_app.ops(sdk_app.step_planned(A), sdk_app.step_planned(B))
            if set(call.body["steps"]) != {A, B}:
                early_discovery.set()
            return sdk_app.ok(sorted(call.body["steps"]))
        if call.step_id == A:
            return sdk_app.ops(sdk_app.step_run(A, "from a"))
        # Answer B only once A's result is stored, leaving a buggy server room to call
        # discovery before B has finished.
        await asgi_server.wait_for(a_committed, what="step A to be committed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(early_discovery.wait(), timeout=0.3)
        return sdk_app.ops(sdk_app.step_run(B, "from b"))

    run_ids.append(await start(asgi_server, sdk_app, "fan", reply))
    run = await asgi_server.wait_run(run_ids[0])

    calls = sdk_app.calls("exe-fan")
    assert [c.step_id for c in calls].count("step") == 2, [c.step_id for c in calls]
    first, *targeted, last = calls
    assert sorted(c.step_id for c in targeted) == [A, B]
    assert all(c.headers["x-inngest-step-id"] == c.step_id for c in targeted)
    assert last.step_id == "step"
    assert last.body["steps"] == {A: {"data": "from a"}, B: {"data": "from b"}}
    assert last.ctx["stack"]["stack"] == [A, B]
    assert first.ctx["disable_immediate_execution"] is False
    assert all(c.ctx["disable_immediate_execution"] is True for c in [*targeted, last])
    assert (run["status"], run["output"]) == ("Completed", sorted([A, B]))
    assert not early_discovery.is_set()
    assert_python_sdk_accepts(calls)


async def test_step_error_is_retried_then_memoized_as_error(
    asgi_server: Harness, sdk_app: ScriptedApp
) -> None:
    def reply(call: Received) -> Reply:
        if call.step_id == "step" and S in call.body["steps"]:
            return sdk_app.ok({"caught": call.body["steps"][S]})
        return sdk_app.ops(sdk_app.step_error(S, f"boom {call.ctx['attempt']}"))

    run_id = await start(asgi_server, sdk_app, "steperr", reply, retries=1)
    run = await asgi_server.wait_run(run_id)

    calls = sdk_app.calls("exe-steperr")
    assert [(c.step_id, c.ctx["attempt"]) for c in calls] == [("step", 0), (S, 1), ("step", 0)]
    assert all(c.ctx["max_attempts"] == 2 for c in calls)
    memo = {"error": {"name": "Error", "message": "boom 1", "stack": "at step"}}
    assert calls[2].body["steps"] == {S: memo}
    assert run["status"] == "Completed"
    assert run["output"] == {"caught": memo}
    kinds = [h["kind"] for h in await asgi_server.history(run_id)]
    assert kinds.index("step_error") < kinds.index("step_failed") < kinds.index("completed")
    assert_python_sdk_accepts(calls)


async def test_step_failed_op_is_memoized_without_retry(
    asgi_server: Harness, sdk_app: ScriptedApp
) -> None:
    error = {"name": "NonRetriableError", "message": "no way"}

    def reply(call: Received) -> Reply:
        if call.body["steps"]:
            return sdk_app.ok(call.body["steps"])
        return sdk_app.ops(sdk_app.op("StepFailed", S, name="s", error=error))

    run_id = await start(asgi_server, sdk_app, "stepfailed", reply, retries=3)
    run = await asgi_server.wait_run(run_id)

    assert run["output"] == {S: {"error": error}}
    assert len(sdk_app.calls("exe-stepfailed")) == 2


async def test_500_with_no_retry_header_fails_at_once(
    server: Harness, sdk_app: ScriptedApp
) -> None:
    reply = sdk_app.fn_error("bad input", no_retry=True)
    run_id = await start(server, sdk_app, "noretry", [reply], retries=3)

    run = await server.wait_run(run_id)

    assert run["status"] == "Failed"
    assert run["error"]["message"] == "bad input"
    assert len(sdk_app.calls("exe-noretry")) == 1


async def test_500_without_header_is_retried_then_fails(
    asgi_server: Harness, sdk_app: ScriptedApp
) -> None:
    run_id = await start(asgi_server, sdk_app, "flaky", [sdk_app.fn_error("kaput")], retries=2)

    run = await asgi_server.wait_run(run_id)

    calls = sdk_app.calls("exe-flaky")
    assert [c.ctx["attempt"] for c in calls] == [0, 1, 2]
    assert all(c.step_id == "step" for c in calls)
    assert run["status"] == "Failed"
    assert run["error"]["message"] == "kaput"
    assert run["error"]["name"] == "Exception"
    history = await asgi_server.history(run_id)
    assert [h["kind"] for h in history] == ["call_error", "call_error", "failed"]
    assert [h["attempt"] for h in history] == [0, 1, 2]


async def test_no_retry_false_header_is_retried(asgi_server: Harness, sdk_app: ScriptedApp) -> None:
    replies = [sdk_app.fn_error("again", status=400, no_retry=False), sdk_app.ok("second")]
    run_id = await start(asgi_server, sdk_app, "retryable400", replies, retries=1)

    run = await asgi_server.wait_run(run_id)

    assert (run["status"], run["output"]) == ("Completed", "second")
    assert len(sdk_app.calls("exe-retryable400")) == 2


async def test_retry_after_sets_the_next_attempts_due_time(
    asgi_server: Harness, sdk_app: ScriptedApp
) -> None:
    replies = [
        sdk_app.fn_error("plain retry"),
        sdk_app.fn_error("come back in a second", retry_after="1"),
        sdk_app.ok("finally"),
    ]
    run_id = await start(asgi_server, sdk_app, "retryafter", replies, retries=2)

    run = await asgi_server.wait_run(run_id)

    assert (run["status"], run["output"]) == ("Completed", "finally")
    history = await asgi_server.history(run_id)
    assert [h["kind"] for h in history] == ["call_error", "call_error", "completed"]
    waits = [h["retry_at"] - asgi_server.parse_iso(h["at"]) for h in history[:2]]
    assert waits == [50, 1000], "the retry interval applies, then Retry-After: 1 (one second)"
    assert [c.ctx["attempt"] for c in sdk_app.calls("exe-retryafter")] == [0, 1, 2]


@pytest.mark.parametrize(
    ("retry_after", "expected_wait"),
    [("999999", 24 * 3600 * 1000), ("date an hour ahead", None), ("soon", None)],
    ids=["seconds capped at a day", "an ISO date", "unreadable"],
)
async def test_retry_after_due_time_is_recorded(
    asgi_server: Harness, sdk_app: ScriptedApp, retry_after: str, expected_wait: int | None
) -> None:
    asked = asgi_server.now_ms() + 3_600_000
    header = asgi_server.iso_ms(asked) if retry_after == "date an hour ahead" else retry_after
    reply = sdk_app.fn_error("come back later", retry_after=header)
    run_id = await start(asgi_server, sdk_app, "longwait", [reply], retries=1)

    async def retry_scheduled() -> list[dict[str, Any]]:
        history = await asgi_server.history(run_id)
        return [h for h in history if h["kind"] == "call_error"]

    [error] = await asgi_server.wait_for(retry_scheduled, what="the retry to be scheduled")
    wait = error["retry_at"] - asgi_server.parse_iso(error["at"])
    if retry_after == "date an hour ahead":
        assert error["retry_at"] == asked
    elif retry_after == "soon":
        assert wait == 50, "an unreadable Retry-After falls back to the retry interval"
    else:
        assert wait == expected_wait
    if retry_after != "soon":
        assert (await asgi_server.run(run_id))["status"] == "Running"
        assert len(sdk_app.calls("exe-longwait")) == 1


async def test_200_without_sdk_header_is_an_error(
    asgi_server: Harness, sdk_app: ScriptedApp
) -> None:
    proxy = sdk_app.Reply(200, {"looks": "fine"}, sdk=False)
    run_id = await start(asgi_server, sdk_app, "proxy", [proxy], retries=1)

    run = await asgi_server.wait_run(run_id)

    assert run["status"] == "Failed"
    assert "X-Inngest-Sdk" in run["error"]["message"]
    assert run["output"] is None
    assert len(sdk_app.calls("exe-proxy")) == 2


async def test_garbage_206_body_fails_naming_it(asgi_server: Harness, sdk_app: ScriptedApp) -> None:
    garbage = sdk_app.Reply(206, raw=b"<html>502 Bad Gateway</html>")
    run_id = await start(asgi_server, sdk_app, "garbage", [garbage])

    run = await asgi_server.wait_run(run_id)

    assert run["status"] == "Failed"
    message = run["error"]["message"]
    assert "206" in message
    assert "502 Bad Gateway" in message


async def test_206_with_unknown_opcode_fails_naming_it(
    asgi_server: Harness, sdk_app: ScriptedApp
) -> None:
    run_id = await start(
        asgi_server, sdk_app, "unknownop", [sdk_app.ops(sdk_app.op("Teleport", S))]
    )

    run = await asgi_server.wait_run(run_id)

    assert run["status"] == "Failed"
    assert "Teleport" in run["error"]["message"]


async def test_unreachable_app_is_retried_then_fails(
    asgi_server: Harness, sdk_app: ScriptedApp
) -> None:
    down = f"http://127.0.0.1:{asgi_server.free_port()}/api/inngest"
    run_id = await start(asgi_server, sdk_app, "down", [sdk_app.ok()], retries=1, url=down)

    run = await asgi_server.wait_run(run_id)

    assert run["status"] == "Failed"
    message = run["error"]["message"]
    assert re.search(r"could not (reach|connect)", message), message
    assert down in message
    history = await asgi_server.history(run_id)
    assert [(h["kind"], h["attempt"]) for h in history] == [("call_error", 0), ("failed", 1)]
    assert sdk_app.calls("exe-down") == []


async def test_sleep_until_a_time_then_resumes_with_null_memo(
    asgi_server: Harness, sdk_app: ScriptedApp
) -> None:
    until: list[int] = []
    woke_at: list[int] = []

    def reply(call: Received) -> Reply:
        if Z in call.body["steps"]:
            woke_at.append(asgi_server.now_ms())
            return sdk_app.ok({"woke": call.body["steps"][Z]})
        until.append(asgi_server.now_ms() + 1000)
        return sdk_app.ops(sdk_app.op("Sleep", Z, name=asgi_server.iso_ms(until[0])))

    run_id = await start(asgi_server, sdk_app, "nap", reply)
    run = await asgi_server.wait_run(run_id)

    assert (run["status"], run["output"]) == ("Completed", {"woke": None})
    # Leased ahead of its time, the resumed call is still not sent before it.
    assert woke_at[0] >= until[0], (woke_at, until)
    first, second = sdk_app.calls("exe-nap")
    assert second.step_id == "step"
    assert second.body["steps"] == {Z: None}
    assert second.ctx["stack"]["stack"] == [Z]
    kinds = [h["kind"] for h in await asgi_server.history(run_id)]
    assert kinds == ["sleeping", "completed"]
    assert_python_sdk_accepts([first, second])


async def test_a_run_cancelled_just_before_its_sleep_ends_calls_the_app_no_more(
    asgi_server: Harness, sdk_app: ScriptedApp
) -> None:
    # Its next call is leased, and held, up to `LEASE_AHEAD_MS` before the sleep ends: the
    # cancellation lands then.
    until: list[int] = []

    def reply(call: Received) -> Reply:
        if Z in call.body["steps"]:
            return sdk_app.ok("woke")
        until.append(asgi_server.now_ms() + 1500)
        return sdk_app.ops(sdk_app.op("Sleep", Z, name=asgi_server.iso_ms(until[0])))

    run_id = await start(asgi_server, sdk_app, "cut", reply)

    async def sleeping() -> bool:
        return any(h["kind"] == "sleeping" for h in await asgi_server.history(run_id))

    await asgi_server.wait_for(sleeping, what="the run to sleep")
    await asyncio.sleep(max(0.0, (until[0] - LEASE_AHEAD_MS // 2 - asgi_server.now_ms()) / 1000))
    resp = await asgi_server.client.delete(f"/v1/runs/{run_id}")
    assert resp.status_code == 200, resp.text
    await asyncio.sleep(max(0.0, (until[0] - asgi_server.now_ms()) / 1000) + 0.5)

    run = await asgi_server.wait_run(run_id)
    assert run["status"] == "Cancelled"
    assert [c.step_id for c in sdk_app.calls("exe-cut")] == ["step"]


@pytest.mark.parametrize("target", ["ISO time", "90m", "1h30m"])
async def test_sleep_target_is_read_from_the_op_name(
    asgi_server: Harness, sdk_app: ScriptedApp, target: str
) -> None:
    asked = asgi_server.now_ms() + 3_600_000
    name = asgi_server.iso_ms(asked) if target == "ISO time" else target
    run_id = await start(
        asgi_server, sdk_app, "longnap", [sdk_app.ops(sdk_app.op("Sleep", Z, name=name))]
    )

    async def sleeping() -> list[dict[str, Any]]:
        return [h for h in await asgi_server.history(run_id) if h["kind"] == "sleeping"]

    [entry] = await asgi_server.wait_for(sleeping, what="the run to sleep")
    if target == "ISO time":
        assert entry["until"] == asked
    else:
        assert entry["until"] - asgi_server.parse_iso(entry["at"]) == 90 * 60 * 1000
    [wake] = [i for i in await asgi_server.lease_all() if i.run_id == run_id]
    assert (wake.kind.value, wake.step_id) == ("wake", Z)
    assert (await asgi_server.run(run_id))["status"] == "Running"


async def test_an_op_not_built_yet_fails_the_run_as_not_supported(
    asgi_server: Harness, sdk_app: ScriptedApp
) -> None:
    signal = sdk_app.op("WaitForSignal", S, name="go", opts={"signal": "go", "timeout": "1h"})
    run_id = await start(asgi_server, sdk_app, "signalled", [sdk_app.ops(signal)], retries=2)

    run = await asgi_server.wait_run(run_id)

    assert run["status"] == "Failed"
    assert "not supported" in run["error"]["message"]
    assert "step.waitForSignal" in run["error"]["message"]
    assert len(sdk_app.calls("exe-signalled")) == 1
    next_run = await start(asgi_server, sdk_app, "after", [sdk_app.ok("still serving")])
    assert (await asgi_server.wait_run(next_run))["output"] == "still serving"


async def test_a_wait_with_a_bad_expression_fails_the_run_naming_it(
    asgi_server: Harness, sdk_app: ScriptedApp
) -> None:
    opts = {"timeout": "1h", "if": "async.data.id =="}
    wait = sdk_app.op("WaitForEvent", S, name="app/approved", opts=opts)
    run_id = await start(asgi_server, sdk_app, "waiter", [sdk_app.ops(wait)], retries=2)

    run = await asgi_server.wait_run(run_id)

    assert run["status"] == "Failed"
    assert run["error"]["name"] == "InvalidStep"
    assert "app/approved" in run["error"]["message"]
    assert "async.data.id ==" in run["error"]["message"]


async def test_run_complete_op_finishes_the_run(asgi_server: Harness, sdk_app: ScriptedApp) -> None:
    complete = sdk_app.op("RunComplete", "0737c22d3bfae812339732d14d8c7dbd6dc4e09c", data=[1, 2])
    run_id = await start(asgi_server, sdk_app, "runcomplete", [sdk_app.ops(complete)])

    run = await asgi_server.wait_run(run_id)

    assert (run["status"], run["output"]) == ("Completed", [1, 2])


async def test_failed_run_emits_function_failed_and_triggers_failure_handler(
    server: Harness, sdk_app: ScriptedApp
) -> None:
    handler = sdk_app.function(
        "exe",
        "main-failure",
        [
            {
                "event": "inngest/function.failed",
                "expression": "event.data.function_id == 'exe-main'",
            }
        ],
    )
    unrelated = sdk_app.function(
        "exe",
        "other-failure",
        [
            {
                "event": "inngest/function.failed",
                "expression": "event.data.function_id == 'exe-other'",
            }
        ],
    )
    main = sdk_app.function("exe", "main", [{"event": "exe/main"}])
    sdk_app.script("exe-main", [sdk_app.fn_error("main broke", no_retry=True)])
    sdk_app.script("exe-main-failure", [sdk_app.ok("handled")])
    sdk_app.script("exe-other-failure", [sdk_app.ok("wrong handler")])
    await sdk_app.register(server, "exe", [main, handler, unrelated])

    [event_id] = await server.send({"name": "exe/main"})
    [run] = await server.wait_event_runs(event_id, 1)
    [failure_call] = await sdk_app.wait_calls("exe-main-failure", 1)

    assert run["status"] == "Failed"
    [failed] = await server.events(name="inngest/function.failed")
    assert failed["id"] == run["run_id"]
    assert failed["data"]["function_id"] == "exe-main"
    assert failed["data"]["run_id"] == run["run_id"]
    assert failed["data"]["error"]["message"] == "main broke"
    assert failed["data"]["event"]["name"] == "exe/main"
    assert failure_call.body["event"]["name"] == "inngest/function.failed"
    assert failure_call.body["event"]["data"]["error"]["message"] == "main broke"
    [handler_run] = await server.wait_event_runs(failed["internal_id"], 1)
    assert (handler_run["function_id"], handler_run["output"]) == ("exe-main-failure", "handled")
    assert sdk_app.calls("exe-other-failure") == []


async def test_every_request_satisfies_the_python_sdk_parser(
    asgi_server: Harness, sdk_app: ScriptedApp
) -> None:
    pytest.importorskip("inngest._internal.server_lib.execution_request")

    def reply(call: Received) -> Reply:
        done = call.body["steps"]
        if call.step_id not in ("step", S):
            return sdk_app.ops(sdk_app.step_run(call.step_id, call.step_id[:1]))
        if S not in done:
            return sdk_app.ops(sdk_app.step_error(S, "first try fails"))
        if A not in done:
            return sdk_app.ops(sdk_app.step_planned(A), sdk_app.step_planned(B))
        return sdk_app.ok("ok")

    run_id = await start(
        asgi_server, sdk_app, "strict", reply, retries=1, data={"n": 1.5, "s": "x"}
    )
    await asgi_server.wait_run(run_id)

    calls = sdk_app.calls("exe-strict")
    assert len(calls) >= 5
    assert_python_sdk_accepts(calls)
    for call in calls:
        assert isinstance(call.body["use_api"], bool)
        assert isinstance(call.ctx["stack"], dict)
        assert type(call.ctx["attempt"]) is int
        assert type(call.body["event"]["ts"]) is int
        assert all(type(e["ts"]) is int for e in call.body["events"])
        assert call.body["event"]["user"] == {}


async def test_request_version_is_echoed_once_the_app_reports_it(
    asgi_server: Harness, sdk_app: ScriptedApp
) -> None:
    silent = sdk_app.ops(sdk_app.step_run(A, 1))
    silent.version = None
    replies = [silent, sdk_app.ops(sdk_app.step_run(B, 2)), sdk_app.ok()]
    run_id = await start(asgi_server, sdk_app, "version", replies)

    await asgi_server.wait_run(run_id)

    calls = sdk_app.calls("exe-version")
    assert [c.body["version"] for c in calls] == [-1, -1, 2]
    assert [c.headers["x-inngest-req-version"] for c in calls] == ["-1", "-1", "2"]


async def test_parallel_fan_in_waits_for_a_step_being_retried(
    asgi_server: Harness, sdk_app: ScriptedApp
) -> None:
    def reply(call: Received) -> Reply:
        if call.step_id == "step":
            if not call.body["steps"]:
                return sdk_app.ops(sdk_app.step_planned(A), sdk_app.step_planned(B))
            return sdk_app.ok(sorted(call.body["steps"]))
        if call.step_id == B and call.ctx["attempt"] < 2:
            return sdk_app.ops(sdk_app.step_error(B, "not yet"))
        return sdk_app.ops(sdk_app.step_run(call.step_id, call.ctx["attempt"]))

    run_id = await start(asgi_server, sdk_app, "fanretry", reply, retries=2)
    run = await asgi_server.wait_run(run_id)

    calls = sdk_app.calls("exe-fanretry")
    discoveries = [c for c in calls if c.step_id == "step"]
    assert len(discoveries) == 2
    assert discoveries[1].body["steps"] == {A: {"data": 0}, B: {"data": 2}}
    assert [c.ctx["attempt"] for c in calls if c.step_id == B] == [0, 1, 2]
    assert (run["status"], run["output"]) == ("Completed", sorted([A, B]))


async def test_streamed_201_answer_is_unwrapped(asgi_server: Harness, sdk_app: ScriptedApp) -> None:
    wrapped = b'   \n  {"status": 200, "headers": {}, "body": "{\\"streamed\\": true}"}'
    run_id = await start(asgi_server, sdk_app, "stream", [sdk_app.Reply(201, raw=wrapped)])

    run = await asgi_server.wait_run(run_id)

    assert (run["status"], run["output"]) == ("Completed", {"streamed": True})


async def test_streamed_201_error_with_no_retry_fails_at_once(
    asgi_server: Harness, sdk_app: ScriptedApp
) -> None:
    inner = {"status": 500, "headers": {"X-Inngest-No-Retry": "true"}, "body": {"message": "no"}}
    reply = sdk_app.Reply(201, raw=b"  " + orjson.dumps(inner))
    run_id = await start(asgi_server, sdk_app, "streamerr", [reply], retries=3)

    run = await asgi_server.wait_run(run_id)

    assert run["status"] == "Failed"
    assert run["error"]["message"] == "no"
    assert len(sdk_app.calls("exe-streamerr")) == 1


async def test_run_whose_function_was_removed_fails_naming_it(
    asgi_server: Harness, sdk_app: ScriptedApp
) -> None:
    def reply(call: Received) -> Reply:
        until = asgi_server.iso_ms(asgi_server.now_ms() + 300)
        return sdk_app.ops(sdk_app.op("Sleep", Z, name=until))

    run_id = await start(asgi_server, sdk_app, "orphan", reply)

    async def sleeping() -> bool:
        return any(h["kind"] == "sleeping" for h in await asgi_server.history(run_id))

    await asgi_server.wait_for(sleeping, what="the run to sleep")
    await asgi_server.client.delete("/fn/remove", params={"url": sdk_app.url})
    run = await asgi_server.wait_run(run_id)

    assert run["status"] == "Failed"
    assert "exe-orphan" in run["error"]["message"]
    assert "no longer registered" in run["error"]["message"]
    assert len(sdk_app.calls("exe-orphan")) == 1


async def test_default_retries_give_five_attempts(
    asgi_server: Harness, sdk_app: ScriptedApp
) -> None:
    run_id = await start(asgi_server, sdk_app, "defaults", [sdk_app.ok()], retries=None)

    await asgi_server.wait_run(run_id)

    [call] = sdk_app.calls("exe-defaults")
    assert call.ctx["max_attempts"] == 5


async def test_app_slower_than_the_call_timeout_is_retried_then_fails_saying_so(
    asgi_server_with: Any, sdk_app: ScriptedApp
) -> None:
    async def too_slow(received: Received) -> Reply:
        await asyncio.sleep(1.0)
        return sdk_app.ok("late")

    async with asgi_server_with(engine={"call_timeout": 0.2}) as server:
        run_id = await start(server, sdk_app, "slow", too_slow, retries=1)

        run = await server.wait_run(run_id)

    assert run["status"] == "Failed"
    assert "timed out after 0.2 s" in run["error"]["message"]
    assert len(sdk_app.calls("exe-slow")) == 2
