"""Checkpointing with the Surge SDK through a real ``surge dev``: a call runs consecutive steps,
reporting each to the server as it finishes (`surge/sdk/_checkpoint.py`), and every step
semantics holds as without it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import pytest

import surge

if TYPE_CHECKING:
    from .conftest import Ledger, Stack


@dataclass(frozen=True)
class Quote:
    sku: str
    cents: int


def build(client: surge.Surge, ledger: Ledger) -> Sequence[surge.Function[Any]]:
    return [*sequences(client, ledger), *interruptions(client, ledger)]


def sequences(client: surge.Surge, ledger: Ledger) -> list[surge.Function[Any]]:
    """Functions whose steps follow one another without a break."""

    @client.create_function(fn_id="three", trigger="cp/three")
    async def three(ctx: surge.Context) -> dict[str, Any]:
        def quote() -> Quote:
            ledger.count(ctx.run_id, "quote")
            return Quote("tea", 250)

        first = await ctx.step.run("quote", quote)
        # A value a step returned in this same call is what a replay would read: rebuilt.
        doubled = await ctx.step.run(
            "double", lambda q: ledger.count(ctx.run_id, "double") and q.cents * 2, first
        )
        total = await ctx.step.run(
            "total", lambda: ledger.count(ctx.run_id, "total") and doubled + 1
        )
        return {"type": type(first).__name__, "total": total}

    @client.create_function(fn_id="sync-three", trigger="cp/sync")
    def sync_three(ctx: surge.SyncContext) -> int:
        a = ctx.step.run("a", lambda: ledger.count(ctx.run_id, "a") and 1)
        b = ctx.step.run("b", lambda: ledger.count(ctx.run_id, "b") and a + 1)
        return int(ctx.step.run("c", lambda: ledger.count(ctx.run_id, "c") and b + 1))

    @client.create_function(fn_id="opted-out", trigger="cp/opted-out", checkpointing=False)
    async def opted_out(ctx: surge.Context) -> int:
        a = await ctx.step.run("a", lambda: 1)
        return int(await ctx.step.run("b", lambda: a + 1))

    return [three, sync_three, opted_out]


def interruptions(client: surge.Surge, ledger: Ledger) -> list[surge.Function[Any]]:
    """Functions whose steps are broken off: by a step error, a function error, a sleep, a
    cancellation."""

    @client.create_function(fn_id="flaky-middle", trigger="cp/flaky", retries=2)
    async def flaky_middle(ctx: surge.Context) -> str:
        def middle() -> str:
            if ledger.count(ctx.run_id, "middle") == 1:
                raise RuntimeError("first try fails")
            return "m"

        await ctx.step.run("before", lambda: ledger.count(ctx.run_id, "before"))
        await ctx.step.run("middle", middle)
        await ctx.step.run("after", lambda: ledger.count(ctx.run_id, "after"))
        return "done"

    @client.create_function(fn_id="raises", trigger="cp/raises", retries=2)
    async def raises(ctx: surge.Context) -> str:
        await ctx.step.run("kept", lambda: ledger.count(ctx.run_id, "kept"))
        if ledger.count(ctx.run_id, "body") == 1:
            raise RuntimeError("the function fails once, outside any step")
        return "recovered"

    @client.create_function(fn_id="sleeper", trigger="cp/sleep")
    async def sleeper(ctx: surge.Context) -> str:
        await ctx.step.run("a", lambda: ledger.count(ctx.run_id, "a"))
        await ctx.step.run("b", lambda: ledger.count(ctx.run_id, "b"))
        await ctx.step.sleep("nap", "1s")
        await ctx.step.run("c", lambda: ledger.count(ctx.run_id, "c"))
        return "woke"

    @client.create_function(fn_id="self-cancel", trigger="cp/cancel")
    async def self_cancel(ctx: surge.Context) -> str:
        def cancel() -> None:
            ledger.count(ctx.run_id, "cancel")
            httpx.delete(f"{client.config.api_origin}/v1/runs/{ctx.run_id}").raise_for_status()

        await ctx.step.run("cancel", cancel)
        await ctx.step.run("after", lambda: ledger.count(ctx.run_id, "after"))
        return "not reached"

    return [flaky_middle, raises, sleeper, self_cancel]


@pytest.fixture(scope="module")
def stack(sdk_stack: Callable[..., Stack]) -> Stack:
    return sdk_stack(build, app_id="cp")


def finished(stack: Stack, name: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    [event_id] = stack.send({"name": name, "data": data or {}})
    [run] = stack.runs_of(event_id, 1)
    return run


def steps_done(stack: Stack, run_id: str) -> list[tuple[str, bool]]:
    """The run's finished steps in order, each with whether a checkpoint reported it."""
    history = stack.server.request("GET", f"/v1/runs/{run_id}/history").json()["data"]
    return [
        (h["name"], bool(h.get("checkpoint"))) for h in history if h["kind"] == "step_completed"
    ]


def test_consecutive_steps_run_in_one_call_each_reported_as_it_finishes(stack: Stack) -> None:
    run = finished(stack, "cp/three")

    assert run["status"] == "Completed", run
    assert run["output"] == {"type": "Quote", "total": 501}
    # The last step travels with the call's answer; the others were checkpointed.
    assert steps_done(stack, run["run_id"]) == [("quote", True), ("double", True), ("total", False)]
    assert stack.ledger.runs[run["run_id"]] == {"quote": 1, "double": 1, "total": 1}


def test_a_sync_handler_checkpoints_its_steps_too(stack: Stack) -> None:
    run = finished(stack, "cp/sync")

    assert (run["status"], run["output"]) == ("Completed", 3), run
    assert steps_done(stack, run["run_id"]) == [("a", True), ("b", True), ("c", False)]


def test_a_step_error_retries_that_step_alone_after_the_checkpointed_ones(stack: Stack) -> None:
    run = finished(stack, "cp/flaky")

    assert (run["status"], run["output"]) == ("Completed", "done"), run
    assert stack.ledger.runs[run["run_id"]] == {"before": 1, "middle": 2, "after": 1}


def test_a_function_error_after_a_checkpointed_step_does_not_run_the_step_again(
    stack: Stack,
) -> None:
    run = finished(stack, "cp/raises")

    assert (run["status"], run["output"]) == ("Completed", "recovered"), run
    assert stack.ledger.runs[run["run_id"]] == {"kept": 1, "body": 2}
    assert steps_done(stack, run["run_id"])[0] == ("kept", True)


def test_steps_before_a_sleep_are_checkpointed_in_the_call_that_reaches_it(stack: Stack) -> None:
    run = finished(stack, "cp/sleep")

    assert (run["status"], run["output"]) == ("Completed", "woke"), run
    assert stack.ledger.runs[run["run_id"]] == {"a": 1, "b": 1, "c": 1}
    assert steps_done(stack, run["run_id"]) == [("a", True), ("b", True), ("c", False)]


def test_a_run_cancelled_during_a_call_stops_it_at_the_next_checkpoint(stack: Stack) -> None:
    run = finished(stack, "cp/cancel")

    assert run["status"] == "Cancelled", run
    # The step that was running keeps its result (as without checkpointing); the checkpoint
    # is answered 409, so the step after it never runs, and no call comes after.
    assert stack.ledger.runs[run["run_id"]] == {"cancel": 1}
    assert steps_done(stack, run["run_id"]) == [("cancel", True)]


def test_checkpointing_off_for_a_function_runs_each_step_in_its_own_call(stack: Stack) -> None:
    run = finished(stack, "cp/opted-out")

    assert (run["status"], run["output"]) == ("Completed", 2), run
    assert steps_done(stack, run["run_id"]) == [("a", False), ("b", False)]


def test_checkpointing_off_on_the_client_turns_it_off_for_every_function(
    sdk_stack: Callable[..., Stack],
) -> None:
    off = sdk_stack(build, app_id="plain", checkpointing=False)
    run = finished(off, "cp/three")

    assert (run["status"], run["output"]) == ("Completed", {"type": "Quote", "total": 501}), run
    assert steps_done(off, run["run_id"]) == [("quote", False), ("double", False), ("total", False)]
