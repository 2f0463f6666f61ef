"""Step semantics through a real ``surge dev``: retries, parallel groups, sleep, step errors,
non-retriable errors, typed events, failure handlers, and sync handlers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pydantic
import pytest

import surge

if TYPE_CHECKING:
    from .conftest import Ledger, Stack


class Signup(pydantic.BaseModel):
    user_id: str
    plan: str = "free"


SignupEvent = surge.EventType("lab/user.signup", Signup)


@dataclass(frozen=True)
class Quote:
    sku: str
    cents: int


def build(client: surge.Surge, ledger: Ledger) -> Sequence[surge.Function[Any]]:
    return [
        *step_functions(client, ledger),
        *error_functions(client, ledger),
        limited_function(client, ledger),
        *gated_functions(client, ledger),
    ]


def gated_functions(client: surge.Surge, ledger: Ledger) -> list[surge.Function[Any]]:
    @client.create_function(
        fn_id="throttled",
        trigger="lab/throttled",
        throttle=surge.Throttle(limit=2, period="2s", burst=1),
    )
    async def throttled(ctx: surge.Context) -> None:
        await ctx.step.run("stamp", lambda: ledger.stamps.append(time.monotonic()))

    @client.create_function(
        fn_id="rate-limited",
        trigger="lab/rated",
        rate_limit=surge.RateLimit(limit=1, period="1h", key="event.data.group"),
    )
    async def rate_limited(ctx: surge.Context) -> str:
        return str(ctx.event.data["group"])

    @client.create_function(
        fn_id="idempotent", trigger="lab/charge", idempotency="event.data.order"
    )
    async def idempotent(ctx: surge.Context) -> int:
        return ledger.count(ctx.run_id, "charge")

    @client.create_function(
        fn_id="debounced", trigger="lab/typed", debounce=surge.Debounce(period="1s")
    )
    async def debounced(ctx: surge.Context) -> str:
        return str(ctx.event.data["text"])

    @client.create_function(
        fn_id="batched", trigger="lab/bulk", batch_events=surge.Batch(max_size=4, timeout="1s")
    )
    async def batched(ctx: surge.Context) -> list[int]:
        return [int(event.data["n"]) for event in ctx.events]

    return [throttled, rate_limited, idempotent, debounced, batched]


def limited_function(client: surge.Surge, ledger: Ledger) -> surge.Function[Any]:
    limit = surge.Concurrency(limit=2, key="event.data.group")

    @client.create_function(fn_id="limited", trigger="lab/limited", concurrency=limit)
    async def limited(ctx: surge.Context) -> str:
        group = str(ctx.event.data["group"])

        async def work() -> None:
            ledger.enter("limited", group)
            try:
                await asyncio.sleep(0.1)
            finally:
                ledger.leave("limited", group)

        await ctx.step.run("first", work)
        await ctx.step.run("second", work)
        return group

    return limited


def step_functions(client: surge.Surge, ledger: Ledger) -> list[surge.Function[Any]]:
    @client.create_function(fn_id="flaky", trigger="lab/flaky", retries=3)
    async def flaky(ctx: surge.Context) -> dict[str, int]:
        async def call_api() -> dict[str, int]:
            n = ledger.count(ctx.run_id, "call-api")
            if n <= 2:
                raise RuntimeError(f"transient failure {n}")
            return {"succeeded_on": n}

        return await ctx.step.run("call-api", call_api)

    @client.create_function(fn_id="pricer", trigger="lab/price")
    async def pricer(ctx: surge.Context) -> dict[str, Any]:
        quote = await ctx.step.run("quote", lambda: {"sku": "a", "cents": 250})

        async def charge(amount: int, currency: str = "usd") -> str:
            ledger.count(ctx.run_id, "charge")
            return f"{amount} {currency}"

        def receipt(charged: str) -> str:  # run in a thread: sync step bodies edit too
            ledger.count(ctx.run_id, "receipt")
            return f"receipt for {charged}"

        charged = await ctx.step.run("charge", charge, quote["cents"], currency="eur")
        return {"charged": charged, "receipt": await ctx.step.run("receipt", receipt, charged)}

    @client.create_function(fn_id="parallel", trigger="lab/parallel")
    async def parallel(ctx: surge.Context) -> list[int]:
        async def square(n: int) -> int:
            ledger.count(ctx.run_id, f"square-{n}")
            return n * n

        results = await ctx.step.parallel(
            *(lambda n=n: ctx.step.run(f"square-{n}", square, n) for n in range(4))
        )
        total = await ctx.step.run("sum", _total, list(results))
        return [*results, total]

    @client.create_function(fn_id="sleeper", trigger="lab/sleep")
    async def sleeper(ctx: surge.Context) -> float:
        async def stamp() -> float:
            ledger.count(ctx.run_id, "before")
            return time.time()

        before = await ctx.step.run("before", stamp)
        await ctx.step.sleep("nap", 1)
        return time.time() - before

    return [flaky, pricer, parallel, sleeper]


def error_functions(client: surge.Surge, ledger: Ledger) -> list[surge.Function[Any]]:
    @client.create_function(fn_id="compensate", trigger="lab/compensate", retries=1)
    async def compensate(ctx: surge.Context) -> dict[str, Any]:
        async def charge() -> None:
            ledger.count(ctx.run_id, "charge")
            raise ValueError("card declined")

        async def refund() -> str:
            ledger.count(ctx.run_id, "refund")
            return "refunded"

        try:
            await ctx.step.run("charge", charge)
        except surge.StepError as exc:
            return {
                "error": exc.name,
                "message": exc.message,
                "undo": await ctx.step.run("refund", refund),
            }
        return {"error": None}

    @client.create_function(fn_id="hopeless", trigger="lab/hopeless", retries=3)
    async def hopeless(ctx: surge.Context) -> None:
        async def check() -> None:
            ledger.count(ctx.run_id, "check")
            raise surge.NonRetriableError("this will never work")

        await ctx.step.run("check", check)

    @client.create_function(fn_id="typed", trigger=SignupEvent)
    async def typed(ctx: surge.Context[Signup]) -> dict[str, Any]:
        async def quote() -> Quote:
            ledger.count(ctx.run_id, "quote")
            return Quote(sku=ctx.event.data.plan, cents=900)

        q = await ctx.step.run("quote", quote)
        # On replay the memo comes back as a Quote, not a dict.
        await ctx.step.sleep("settle", "1s")
        return {"user": ctx.event.data.user_id, "is_quote": isinstance(q, Quote), "cents": q.cents}

    return [compensate, hopeless, typed, *failing_functions(client, ledger)]


def failing_functions(client: surge.Surge, ledger: Ledger) -> list[surge.Function[Any]]:

    async def on_doomed_failure(ctx: surge.Context) -> None:
        ledger.note(failed=ctx.event.data["function_id"], error=ctx.event.data["error"]["message"])

    @client.create_function(
        fn_id="doomed", trigger="lab/doomed", retries=0, on_failure=on_doomed_failure
    )
    def doomed(ctx: surge.SyncContext) -> None:
        raise RuntimeError("doomed from the start")

    @client.create_function(fn_id="sync-sender", trigger="lab/sync-send")
    def sync_sender(ctx: surge.SyncContext) -> list[str]:
        return ctx.step.send_event(
            "notify", [{"name": "lab/noted", "data": {"i": i}} for i in range(3)]
        )

    return [doomed, sync_sender]


def _total(values: list[int]) -> int:
    return sum(values)


@pytest.fixture(scope="module")
def stack(sdk_stack: Callable[..., Stack]) -> Stack:
    return sdk_stack(build, app_id="lab")


def test_a_failing_step_is_retried_until_it_succeeds(stack: Stack) -> None:
    (event_id,) = stack.send({"name": "lab/flaky"})
    run = stack.run_of(event_id, "lab-flaky")
    assert run["status"] == "Completed", run
    assert run["output"] == {"succeeded_on": 3}
    assert stack.ledger.runs[run["run_id"]] == {"call-api": 3}


def test_parallel_steps_each_run_once_and_results_keep_order(stack: Stack) -> None:
    (event_id,) = stack.send({"name": "lab/parallel"})
    run = stack.run_of(event_id, "lab-parallel")
    assert run["status"] == "Completed", run
    assert run["output"] == [0, 1, 4, 9, 14]
    assert stack.ledger.runs[run["run_id"]] == {f"square-{n}": 1 for n in range(4)}


def test_sleep_pauses_the_run(stack: Stack) -> None:
    (event_id,) = stack.send({"name": "lab/sleep"})
    run = stack.run_of(event_id, "lab-sleeper")
    assert run["status"] == "Completed", run
    assert run["output"] >= 1.0
    assert stack.ledger.runs[run["run_id"]] == {"before": 1}


def test_a_step_that_failed_for_good_raises_step_error_the_handler_can_catch(stack: Stack) -> None:
    (event_id,) = stack.send({"name": "lab/compensate"})
    run = stack.run_of(event_id, "lab-compensate")
    assert run["status"] == "Completed", run
    assert run["output"] == {"error": "ValueError", "message": "card declined", "undo": "refunded"}
    assert stack.ledger.runs[run["run_id"]] == {"charge": 2, "refund": 1}


def test_non_retriable_error_in_a_step_fails_the_run_without_retries(stack: Stack) -> None:
    (event_id,) = stack.send({"name": "lab/hopeless"})
    run = stack.run_of(event_id, "lab-hopeless")
    assert run["status"] == "Failed", run
    assert "this will never work" in str(run["error"])
    assert stack.ledger.runs[run["run_id"]] == {"check": 1}


def test_typed_event_data_is_validated_and_step_output_typed_on_replay(stack: Stack) -> None:
    (event_id,) = stack.send(SignupEvent(Signup(user_id="u1", plan="pro")))
    run = stack.run_of(event_id, "lab-typed")
    assert run["status"] == "Completed", run
    assert run["output"] == {"user": "u1", "is_quote": True, "cents": 900}


def test_typed_event_rejected_before_sending_when_data_is_invalid(stack: Stack) -> None:
    with pytest.raises(surge.EventDataInvalid, match=r"lab/user\.signup"):
        stack.send({"name": "lab/user.signup", "data": {"plan": "pro"}})


def test_typed_event_with_invalid_data_fails_the_run_without_retries(stack: Stack) -> None:
    (event_id,) = stack.server.send({"name": "lab/user.signup", "data": {"plan": 3}})
    run = stack.run_of(event_id, "lab-typed")
    assert run["status"] == "Failed", run
    assert "user_id" in str(run["error"])
    assert run["run_id"] not in stack.ledger.runs


def test_on_failure_handler_runs_when_a_function_fails(stack: Stack, wait_until: Any) -> None:
    (event_id,) = stack.send({"name": "lab/doomed"})
    run = stack.run_of(event_id, "lab-doomed")
    assert run["status"] == "Failed"
    note = wait_until(
        lambda: next((n for n in stack.ledger.notes if n["failed"] == "lab-doomed"), None),
        timeout=30,
        what="the failure handler to run",
    )
    assert note["error"] == "doomed from the start"


def test_sync_handler_sends_events_from_a_step_and_returns_their_ids(stack: Stack) -> None:
    (event_id,) = stack.send({"name": "lab/sync-send"})
    run = stack.run_of(event_id, "lab-sync-sender")
    assert run["status"] == "Completed", run
    assert len(run["output"]) == 3
    for child_event in run["output"]:
        assert stack.server.event_runs(child_event) == []  # no function listens to lab/noted
    events = stack.server.request("GET", f"/v1/events/{run['output'][0]}").json()["data"]
    assert events["name"] == "lab/noted"


def test_a_throttle_paces_run_starts(stack: Stack) -> None:
    sent = time.monotonic()
    ids = stack.send([{"name": "lab/throttled", "data": {"n": n}} for n in range(5)])

    for event_id in ids:
        assert stack.run_of(event_id, "lab-throttled")["status"] == "Completed"
    offsets = sorted(t - sent for t in stack.ledger.stamps)
    assert len(offsets) == 5
    assert offsets[2] < 1.0  # limit + burst at once
    assert offsets[3] >= 1.0 and offsets[4] >= 2.0  # then one a second, never sooner


def test_rate_limits_and_idempotency_keys_skip_runs_with_a_reason(stack: Stack) -> None:
    rated = stack.send([{"name": "lab/rated", "data": {"group": g}} for g in ("a", "a", "b")])
    charged = stack.send([{"name": "lab/charge", "data": {"order": 1}}] * 2)

    got = [stack.run_of(i, "lab-rate-limited") for i in rated]
    got += [stack.run_of(i, "lab-idempotent") for i in charged]
    assert [(r["status"], r["skip_reason"]) for r in got] == [
        ("Completed", None),
        ("Skipped", "rate_limit"),
        ("Completed", None),
        ("Completed", None),
        ("Skipped", "idempotency"),
    ]


def test_a_debounce_runs_once_with_the_last_event(stack: Stack) -> None:
    ids = [stack.send({"name": "lab/typed", "data": {"text": t}})[0] for t in ("h", "he", "hey")]

    assert stack.run_of(ids[-1], "lab-debounced")["output"] == "hey"
    assert [stack.server.event_runs(i) for i in ids[:-1]] == [[], []]


def test_a_batch_hands_the_function_every_event(stack: Stack) -> None:
    ids = stack.send([{"name": "lab/bulk", "data": {"n": n}} for n in range(6)])

    outputs = {tuple(stack.run_of(i, "lab-batched")["output"]) for i in ids}
    assert sorted(outputs) == [(0, 1, 2, 3), (4, 5)]


def test_a_keyed_concurrency_limit_holds_per_key_and_is_used(stack: Stack) -> None:
    ids = stack.send([{"name": "lab/limited", "data": {"group": f"g{n % 2}"}} for n in range(10)])

    for event_id in ids:
        assert stack.run_of(event_id, "lab-limited")["status"] == "Completed"
    assert (stack.ledger.peak["g0"], stack.ledger.peak["g1"]) == (2, 2)
    assert stack.ledger.peak["limited"] > 2  # the two groups ran side by side


def test_a_rerun_from_a_step_with_an_edited_input_runs_it_with_that_input(stack: Stack) -> None:
    """The server sends the edited input as the step's memo ``{"input": [args]}``; the Surge
    SDK says at sync that it reads it, and runs the step with those positional arguments
    (its keyword arguments as in the code)."""
    (event_id,) = stack.send({"name": "lab/price"})
    original = stack.run_of(event_id, "lab-pricer")
    assert original["output"] == {"charged": "250 eur", "receipt": "receipt for 250 eur"}

    body = {"from_step": "charge", "input": [999]}
    resp = stack.server.request("POST", f"/v1/runs/{original['run_id']}/rerun", json=body)
    assert resp.status_code == 200, resp.text
    rerun = stack.server.wait_run(resp.json()["data"]["run_id"])

    assert rerun["status"] == "Completed", rerun
    assert rerun["output"] == {"charged": "999 eur", "receipt": "receipt for 999 eur"}
    # quote came from the original; charge ran once, with the input; receipt as coded.
    assert stack.ledger.runs[rerun["run_id"]] == {"charge": 1, "receipt": 1}
