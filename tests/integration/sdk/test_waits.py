"""Waiting steps and cancellation with the Surge SDK through a real ``surge dev``:
``wait_for_event``, ``invoke`` (result, error, timeout) and ``cancel``."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pytest

import surge

if TYPE_CHECKING:
    from .conftest import Ledger, Stack


def build(client: surge.Surge, ledger: Ledger) -> Sequence[surge.Function[Any]]:
    @client.create_function(fn_id="approval", trigger="lab/approval.requested")
    async def approval(ctx: surge.Context) -> Any:
        decided = await ctx.step.wait_for_event(
            "decision",
            "lab/approval.decided",
            timeout=f"{ctx.event.data['timeout_s']}s",
            if_exp="event.data.id == async.data.id",
        )
        return None if decided is None else decided.data["decision"]

    @client.create_function(fn_id="child", trigger="lab/child", retries=0)
    async def child(ctx: surge.Context) -> int:
        if ctx.event.data.get("sleep_s"):
            await ctx.step.sleep("linger", f"{ctx.event.data['sleep_s']}s")
        if ctx.event.data.get("fail"):
            raise surge.NonRetriableError("child refused")
        return int(ctx.event.data["x"]) * 2

    @client.create_function(fn_id="invoker", trigger="lab/invoker")
    async def invoker(ctx: surge.Context) -> Any:
        data = dict(ctx.event.data)
        timeout = data.pop("timeout_s", None)
        try:
            return await ctx.step.invoke(
                "call", child, data=data, timeout=None if timeout is None else f"{timeout}s"
            )
        except surge.StepError as exc:
            return {"error": exc.name, "message": exc.message}

    @client.create_function(
        fn_id="cancellable",
        trigger="lab/cancellable",
        cancel=surge.Cancel(event="lab/stop", if_exp="event.data.id == async.data.id"),
    )
    async def cancellable(ctx: surge.Context) -> str:
        await ctx.step.run("first", lambda: ledger.count(ctx.run_id, "first"))
        await ctx.step.sleep("nap", "30s")
        await ctx.step.run("second", lambda: ledger.count(ctx.run_id, "second"))
        return "finished"

    @client.create_function(
        fn_id="single",
        trigger="lab/single",
        singleton=surge.Singleton(key="event.data.id", mode="skip"),
    )
    async def single(ctx: surge.Context) -> str:
        await ctx.step.sleep("hold", "2s")
        return str(ctx.event.data["n"])

    @client.create_function(
        fn_id="bounded", trigger="lab/bounded", timeouts=surge.Timeouts(finish="1s")
    )
    async def bounded(ctx: surge.Context) -> str:
        await ctx.step.run("first", lambda: ledger.count(ctx.run_id, "first"))
        await ctx.step.sleep("nap", "30s")
        return "never"

    @client.create_function(
        fn_id="timed",
        trigger="lab/timed",
        timeouts=surge.Timeouts(start="10m", finish="10m"),
        checkpointing=False,  # each step its own call, discovered after the last
    )
    async def timed(ctx: surge.Context) -> int:
        one = await ctx.step.run("one", lambda: ledger.count(ctx.run_id, "one"))
        two = await ctx.step.run("two", lambda: ledger.count(ctx.run_id, "two"))
        return one + two

    @client.create_function(fn_id="watcher", trigger="lab/watch")
    async def watcher(ctx: surge.Context) -> Any:
        finished = await ctx.step.wait_for_event(
            "child-finished",
            "inngest/function.finished",
            timeout="25s",
            if_exp="async.data.event.data.tag == event.data.tag",
        )
        return None if finished is None else finished.data["result"]

    return [approval, child, invoker, cancellable, single, bounded, timed, watcher]


@pytest.fixture(scope="module")
def stack(sdk_stack: Callable[..., Stack]) -> Stack:
    return sdk_stack(build, app_id="lab")


def test_wait_for_event_returns_the_matching_event(stack: Stack, wait_until: Any) -> None:
    (event_id,) = stack.send(
        {"name": "lab/approval.requested", "data": {"id": "a-1", "timeout_s": 60}}
    )
    wait_until(lambda: stack.server.event_runs(event_id), timeout=30, what="the approval run")
    time.sleep(0.5)  # the wait begins once the app reports it
    stack.send(
        [
            {"name": "lab/approval.decided", "data": {"id": "a-2", "decision": "no"}},
            {"name": "lab/approval.decided", "data": {"id": "a-1", "decision": "yes"}},
        ]
    )

    run = stack.run_of(event_id, "lab-approval")
    assert (run["status"], run["output"]) == ("Completed", "yes"), run


def test_wait_for_event_returns_none_at_its_timeout(stack: Stack) -> None:
    (event_id,) = stack.send(
        {"name": "lab/approval.requested", "data": {"id": "a-3", "timeout_s": 1}}
    )

    run = stack.run_of(event_id, "lab-approval")

    assert (run["status"], run["output"]) == ("Completed", None), run


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"x": 21}, 42),
        ({"x": 1, "fail": True}, {"error": "NonRetriableError", "message": "child refused"}),
        (
            {"x": 1, "sleep_s": 30, "timeout_s": 1},
            {
                "error": "InngestInvokeTimeoutError",
                "message": "Timed out waiting for invoked function to complete",
            },
        ),
    ],
    ids=["result", "error", "timeout"],
)
def test_invoke_returns_the_child_s_outcome(
    stack: Stack, data: dict[str, Any], expected: Any
) -> None:
    (event_id,) = stack.send({"name": "lab/invoker", "data": data})

    run = stack.run_of(event_id, "lab-invoker")

    assert (run["status"], run["output"]) == ("Completed", expected), run


def test_cancel_stops_the_matching_run_before_its_next_step(stack: Stack, wait_until: Any) -> None:
    (event_id,) = stack.send({"name": "lab/cancellable", "data": {"id": "c-1"}})

    def first_ran() -> bool:
        runs = stack.server.event_runs(event_id)
        return bool(runs) and stack.ledger.runs.get(runs[0]["run_id"], {}).get("first") == 1

    wait_until(first_ran, timeout=30, what="the first step")
    stack.send({"name": "lab/stop", "data": {"id": "c-1"}})

    run = stack.run_of(event_id, "lab-cancellable")
    assert run["status"] == "Cancelled", run
    assert stack.ledger.runs[run["run_id"]] == {"first": 1}


def test_a_singleton_skips_a_second_run_while_the_first_runs(stack: Stack) -> None:
    ids = stack.send([{"name": "lab/single", "data": {"id": "s-1", "n": n}} for n in (1, 2)])

    first, second = (stack.run_of(event_id, "lab-single") for event_id in ids)

    assert (first["status"], first["output"]) == ("Completed", "1"), first
    assert (second["status"], second["skip_reason"]) == ("Skipped", "singleton"), second


def test_a_run_past_its_finish_timeout_is_cancelled(stack: Stack) -> None:
    (event_id,) = stack.send({"name": "lab/bounded", "data": {}})

    run = stack.run_of(event_id, "lab-bounded")

    assert run["status"] == "Cancelled", run
    assert run["error"]["name"] == "FunctionTimeout"
    assert stack.ledger.runs[run["run_id"]] == {"first": 1}


def test_a_run_with_timeouts_goes_through_its_steps_before_them(stack: Stack) -> None:
    # Its timeout checks stay queued until it ends; they must not hold its next step back.
    (event_id,) = stack.send({"name": "lab/timed", "data": {}})

    run = stack.run_of(event_id, "lab-timed")

    assert (run["status"], run["output"]) == ("Completed", 2), run
    assert stack.ledger.runs[run["run_id"]] == {"one": 1, "two": 1}


def test_a_wait_for_a_run_s_own_finished_event_resumes_when_it_ends(
    stack: Stack, wait_until: Any
) -> None:
    # The server is idle once the child ends: its finished event must still be matched at
    # once, well before the wait's timeout (the scheduler's idle recheck is 30 s).
    (event_id,) = stack.send({"name": "lab/watch", "data": {"tag": "w-1"}})
    wait_until(lambda: stack.server.event_runs(event_id), timeout=30, what="the watcher run")
    time.sleep(0.5)  # the wait begins once the app reports it
    stack.send({"name": "lab/child", "data": {"x": 5, "tag": "w-1"}})

    run = stack.run_of(event_id, "lab-watcher")

    assert (run["status"], run["output"]) == ("Completed", 10), run
