"""Apps written with the official Inngest SDKs run unchanged on ``surge dev`` and ``surge start``.

One module, parametrized over the Python SDK (PyPI ``inngest==0.5.19``) and the TypeScript SDK
(npm ``inngest@4.24.0``), each in dev mode against ``surge dev`` and in production mode (signing
key and event key set, every request signed) against ``surge start``. Each parameter gets one
real server subprocess and one app subprocess (``tests/compat/py_app`` or
``tests/compat/ts_app``), synced by ``PUT``ting the app's serve URL exactly as the Inngest Dev
Server does. The TypeScript app runs with checkpointing (its v4 default: steps run one after
another in one call and reported to ``/v1/checkpoint``) and, in dev mode, once more without.

The apps count every step execution per run, so "ran exactly once" is checked against what the
user's code actually did, not against what the server says it did.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
import pytest
from compat_stack import Stack, assert_each_item_ran_once, start_stack, tag

if TYPE_CHECKING:
    from conftest import AppProcess, SurgeServer

pytestmark = pytest.mark.compat

APP_FUNCTIONS = (
    "signup-welcome",
    "signup-crm",
    "signup-broken",
    "fanout-orchestrator",
    "fanout-worker",
    "limited-worker",
    "throttled",
    "rate-limited",
    "idempotent",
    "prioritized",
    "debounced",
    "batched",
    "order-placed",
    "confirmed-email",
    "confirmed-analytics",
    "confirmed-shipping",
    "flaky",
    "doomed",
    "doomed-failure",  # the onFailure handler, registered as its own function
    "approval",
    "child",
    "invoker",
    "cancellable",
    "slow",
    "single-skip",
    "single-cancel",
    "finish-timeout",
    "start-timeout",
    "inferrer",
)
CONSUMERS = ("confirmed-email", "confirmed-analytics", "confirmed-shipping")
RETURNED = "(returned)"  # the apps' ledger key for "the handler reached its return"
FANOUT_ITEMS = 300
DEADLINE = 60.0
FANOUT_DEADLINE = 180.0


@pytest.fixture(
    scope="module", params=["py-dev", "ts-dev", "ts-dev-nocheckpoint", "py-start", "ts-start"]
)
def stack(
    request: pytest.FixtureRequest,
    surge_server_module: Callable[..., SurgeServer],
    app_process_module: Callable[..., AppProcess],
) -> Stack:
    return start_stack(request.param, surge_server_module, app_process_module)


def test_sync_registers_every_function(stack: Stack) -> None:
    listed = stack.server.function_slugs()
    expected = {f"{stack.app_id}-{fn}" for fn in APP_FUNCTIONS}
    assert expected <= listed, f"GET /dev lacks {sorted(expected - listed)}; it lists {listed}"


def test_static_fan_out_one_failure_does_not_disturb_the_others(stack: Stack) -> None:
    user_id = f"user-{tag()}"
    (event_id,) = stack.server.send({"name": "compat/user.signup", "data": {"user_id": user_id}})

    runs = stack.server.wait_event_runs(event_id, 3, timeout=DEADLINE)

    assert len(runs) == 3, f"one event, three functions, but runs: {runs}"
    ledger = stack.ledger_runs()
    by_fn = {}
    for run in runs:
        assert run["run_id"] in ledger, f"run {run} never executed a step in the app"
        by_fn[ledger[run["run_id"]]["fn"]] = run
    assert set(by_fn) == {"signup-welcome", "signup-crm", "signup-broken"}, by_fn

    welcome, crm, broken = by_fn["signup-welcome"], by_fn["signup-crm"], by_fn["signup-broken"]
    assert welcome["status"] == "Completed", welcome
    assert welcome["output"] == {"body": f"Welcome, {user_id}!", "delivered": True}
    assert crm["status"] == "Completed", crm
    assert crm["output"] == {"contact": f"contact-{user_id}"}
    assert broken["status"] == "Failed", broken

    assert ledger[welcome["run_id"]]["steps"] == {"render-email": 1, "send-email": 1}
    assert ledger[crm["run_id"]]["steps"] == {"upsert-contact": 1}
    # NonRetriableError: the failing function is not retried (its step and its raise ran once).
    assert ledger[broken["run_id"]]["steps"] == {"validate": 1, "raise": 1}


@pytest.mark.timeout(300)
def test_dynamic_fan_out_runs_every_item_once(stack: Stack) -> None:
    (start_id,) = stack.server.send(
        {"name": "compat/fanout.start", "data": {"count": FANOUT_ITEMS, "tag": tag()}}
    )
    (orchestrator,) = stack.server.wait_event_runs(start_id, 1, timeout=DEADLINE)
    assert orchestrator["status"] == "Completed", orchestrator
    output = orchestrator["output"]
    assert output["count"] == FANOUT_ITEMS
    item_event_ids: list[str] = output["event_ids"]
    assert len(set(item_event_ids)) == FANOUT_ITEMS, f"step.send_event returned {output}"

    worker_runs = stack.server.wait_many_event_runs(item_event_ids, timeout=FANOUT_DEADLINE)

    ledger = stack.ledger_runs()
    assert ledger[orchestrator["run_id"]]["steps"] == {"load-ids": 1}
    assert_each_item_ran_once(worker_runs, ledger)
    items_done = {runs[0]["output"]["item_id"] for runs in worker_runs.values()}
    assert items_done == {f"item-{i}" for i in range(FANOUT_ITEMS)}

    # Each worker run knows which run sent its event.
    for runs in worker_runs.values():
        detail = stack.server.run(runs[0]["run_id"])
        assert detail["parent_run_id"] == orchestrator["run_id"], (
            f"GET /v1/runs/{runs[0]['run_id']} -> parent_run_id {detail.get('parent_run_id')!r},"
            f" expected the orchestrator run {orchestrator['run_id']}: {detail}"
        )


def test_a_keyed_concurrency_limit_holds_per_key_and_is_used(stack: Stack) -> None:
    run_tag = tag()
    events = [
        {
            "name": "compat/limited.item",
            "data": {"group": f"{run_tag}-{n % 2}", "step_sleep_ms": 150},
        }
        for n in range(12)
    ]

    ids = stack.server.send(events)

    runs = stack.server.wait_many_event_runs(ids, timeout=DEADLINE)
    assert all(r["status"] == "Completed" for rs in runs.values() for r in rs), runs
    peak = stack.app.counts()["peak_in_flight"]
    # Never more than 2 steps at once per group, and the two groups' steps overlapped.
    assert (peak[f"{run_tag}-0"], peak[f"{run_tag}-1"]) == (2, 2), peak
    assert peak["*"] > 2, peak


def test_a_throttle_starts_limit_plus_burst_then_paces_the_rest(stack: Stack) -> None:
    group = tag()
    events = [
        {"name": "compat/throttled.item", "data": {"group": group, "name": f"n{n}"}}
        for n in range(6)
    ]

    sent = time.time()  # the app stamps with the same wall clock
    ids = stack.server.send(events)

    runs = stack.server.wait_many_event_runs(ids, timeout=DEADLINE)
    assert all(r["status"] == "Completed" for rs in runs.values() for r in rs), runs
    offsets = sorted(m["t"] - sent for m in stack.app.counts()["marks"][group])
    assert len(offsets) == 6  # none dropped
    # 2 per 2 s with a burst of 1: three at once, then one a second from the send, never sooner.
    assert offsets[2] < 1.0, offsets
    for k, offset in enumerate(offsets[3:], start=1):
        assert offset >= k * 1.0, offsets


def test_a_rate_limit_skips_excess_events_per_key(stack: Stack) -> None:
    group = tag()
    datas = [{"group": f"{group}-a"}] * 3 + [{"group": f"{group}-b"}]

    ids = stack.server.send([{"name": "compat/rated.item", "data": d} for d in datas])

    runs = stack.server.wait_many_event_runs(ids, timeout=DEADLINE)
    outcomes = [(r["status"], r["skip_reason"]) for i in ids for r in runs[i]]
    assert outcomes == [
        ("Completed", None),
        ("Skipped", "rate_limit"),
        ("Skipped", "rate_limit"),
        ("Completed", None),
    ]
    ledger = stack.ledger_runs()
    assert [ledger[runs[i][0]["run_id"]]["steps"] for i in (ids[0], ids[3])] == [{"once": 1}] * 2


def test_an_idempotency_key_starts_one_run_a_day(stack: Stack) -> None:
    order = tag()
    event = {"name": "compat/idempotent.item", "data": {"order": order}}

    ids = stack.server.send([event, event])
    ids += stack.server.send(event)

    runs = stack.server.wait_many_event_runs(ids, timeout=DEADLINE)
    outcomes = [(r["status"], r["skip_reason"]) for i in ids for r in runs[i]]
    assert outcomes == [
        ("Completed", None),
        ("Skipped", "idempotency"),
        ("Skipped", "idempotency"),
    ]
    assert runs[ids[0]][0]["output"] == f"charged:{order}"
    ledger = stack.ledger_runs()
    assert ledger[runs[ids[0]][0]["run_id"]]["steps"] == {"charge": 1}
    assert all(runs[i][0]["run_id"] not in ledger for i in ids[1:])  # skipped: never called


def test_priority_starts_a_later_vip_run_first(stack: Stack) -> None:
    group = tag()

    def event(name: str, **data: Any) -> dict[str, Any]:
        return {"name": "compat/prioritized.item", "data": {"group": group, "name": name, **data}}

    ids = stack.server.send(event("first", step_sleep_ms=1500, vip=False))
    deadline = time.monotonic() + DEADLINE
    while not stack.app.counts()["marks"].get(group):  # "first" holds the only slot
        assert time.monotonic() < deadline, "the first run never started"
        time.sleep(0.05)
    ids += stack.server.send([event("plain-1", vip=False), event("plain-2", vip=False)])
    ids += stack.server.send(event("vip", vip=True))

    runs = stack.server.wait_many_event_runs(ids, timeout=DEADLINE)

    assert all(r["status"] == "Completed" for rs in runs.values() for r in rs), runs
    order = [m["name"] for m in stack.app.counts()["marks"][group]]
    assert order == ["first", "vip", "plain-1", "plain-2"]


def test_a_debounce_runs_once_with_the_last_event(stack: Stack) -> None:
    group = tag()

    ids = []
    for v in range(3):
        ids += stack.server.send(
            {"name": "compat/debounced.item", "data": {"group": group, "v": v}}
        )
        time.sleep(0.2)

    (run,) = stack.server.wait_event_runs(ids[-1], 1, timeout=DEADLINE)
    assert (run["status"], run["output"]) == ("Completed", 2), run
    assert [m["name"] for m in stack.app.counts()["marks"][group]] == ["2"]
    assert all(stack.server.event_runs(i) == [] for i in ids[:-1])


def test_a_batch_delivers_every_event_exactly_once(stack: Stack) -> None:
    group = tag()
    events = [{"name": "compat/batched.item", "data": {"group": group, "n": n}} for n in range(7)]

    ids = stack.server.send(events)

    runs = stack.server.wait_many_event_runs(ids, timeout=DEADLINE)
    outputs = sorted({tuple(rs[0]["output"]) for rs in runs.values()})
    assert outputs == [(0, 1, 2), (3, 4, 5), (6,)], runs
    batches = [m["name"] for m in stack.app.counts()["marks"][group]]
    assert sorted(batches) == ["0,1,2", "3,4,5", "6"]  # each batch ran its step once


def test_chained_fan_out_consumers_run_after_the_emitting_step(stack: Stack) -> None:
    order_id = f"order-{tag()}"
    (placed_id,) = stack.server.send(
        {"name": "compat/order.placed", "data": {"order_id": order_id}}
    )
    (order_run,) = stack.server.wait_event_runs(placed_id, 1, timeout=DEADLINE)
    assert order_run["status"] == "Completed", order_run
    assert order_run["output"]["payment"] == f"charge-{order_id}"
    (confirmed_id,) = order_run["output"]["event_ids"]

    consumer_runs = stack.server.wait_event_runs(confirmed_id, 3, timeout=DEADLINE)

    assert len(consumer_runs) == 3, consumer_runs
    ledger = stack.ledger_runs()
    emitter = ledger[order_run["run_id"]]
    assert emitter["steps"] == {"reserve-stock": 1, "charge-card": 1}
    consumers = {}
    for run in consumer_runs:
        assert run["status"] == "Completed", run
        entry = ledger[run["run_id"]]
        consumers[entry["fn"]] = run
        assert entry["steps"] == {"handle": 1}, (run, entry)
        # The confirmed event only exists once the emitting run got past its steps.
        assert entry["first_seq"]["handle"] > emitter["first_seq"]["charge-card"], (entry, emitter)
        assert run["output"] == {"handled": f"{entry['fn']}:{order_id}"}
    assert set(consumers) == set(CONSUMERS)


def test_flaky_step_is_retried_until_it_succeeds(stack: Stack) -> None:
    (event_id,) = stack.server.send({"name": "compat/flaky.start", "data": {"tag": tag()}})

    (run,) = stack.server.wait_event_runs(event_id, 1, timeout=DEADLINE)

    assert run["status"] == "Completed", run
    assert run["output"] == {"succeeded_on_execution": 3}
    assert stack.ledger_runs()[run["run_id"]]["steps"] == {"unreliable-call": 3}


# As the TypeScript SDK's own test harness asks (`runHasTimeline`, `getOutput`).
GQL_TRACE = """
query GetRunTimeline($runID: String!) {
  run(runID: $runID) {
    status
    trace(preview: true) {
      name stepType attempts outputID status
      childrenSpans {
        name stepType attempts outputID status
        childrenSpans { name stepType attempts outputID status }
      }
    }
  }
}
"""
GQL_STREAM = """
query GetEventStream {
  stream(query: {limit: 999, includeInternalEvents: false}) {
    id trigger runs { id function { name } }
  }
}
"""
GQL_METADATA = """
fragment TraceMetadataFields on RunTraceSpan {
  name stepID spanID metadata { scope kind values updatedAt }
}
query ($runId: String!) {
  run(runID: $runId) {
    trace(preview: true) {
      ...TraceMetadataFields
      childrenSpans { ...TraceMetadataFields childrenSpans { ...TraceMetadataFields } }
    }
  }
}
"""
GQL_OUTPUT = """
query GetRunTimelineOutput($traceID: String!) {
  runTraceSpanOutputByID(outputID: $traceID) { data error { name message stack cause } }
}
"""


def gql(stack: Stack, query: str, **variables: Any) -> dict[str, Any]:
    resp = stack.server.request("POST", "/v0/gql", json={"query": query, "variables": variables})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


def test_graphql_traces_each_step_in_order_with_its_output_and_attempts(stack: Stack) -> None:
    (worker_event,) = stack.server.send({"name": "compat/fanout.item", "data": {"item_id": "g-1"}})
    (flaky_event,) = stack.server.send({"name": "compat/flaky.start", "data": {"tag": tag()}})
    (worker,) = stack.server.wait_event_runs(worker_event, 1, timeout=DEADLINE)
    (flaky,) = stack.server.wait_event_runs(flaky_event, 1, timeout=DEADLINE)

    # How the TypeScript SDK's harness finds an event's run (`eventRunWithName`).
    stream = gql(stack, GQL_STREAM)["stream"]
    [item] = [i for i in stream if i["id"] == worker_event]
    assert [r["id"] for r in item["runs"]] == [worker["run_id"]], item
    assert item["runs"][0]["function"]["name"] in ("fanout-worker", "compat-fanout-worker")

    run = gql(stack, GQL_TRACE, runID=worker["run_id"])["run"]
    assert run["status"] == "COMPLETED", run
    spans = run["trace"]["childrenSpans"]
    assert [(s["name"], s["status"], s["stepType"]) for s in spans] == [
        ("fetch-item", "COMPLETED", "RUN"),
        ("process-item", "COMPLETED", "RUN"),
        ("Finalization", "COMPLETED", "FINALIZATION"),
    ], spans
    outputs = [
        gql(stack, GQL_OUTPUT, traceID=s["outputID"])["runTraceSpanOutputByID"] for s in spans
    ]
    assert [orjson.loads(o["data"]) for o in outputs] == [
        {"item_id": "g-1", "size": 3},
        "processed:g-1:3",
        {"item_id": "g-1", "result": "processed:g-1:3"},
    ]

    trace = gql(stack, GQL_TRACE, runID=flaky["run_id"])["run"]["trace"]
    call, _ = trace["childrenSpans"]
    assert (call["name"], call["status"], call["attempts"]) == ("unreliable-call", "COMPLETED", 3)

    # Span metadata, as the TypeScript SDK's harness reads it (`getRunTraceMetadata`).
    trace = gql(stack, GQL_METADATA, runId=flaky["run_id"])["run"]["trace"]
    call, _ = trace["childrenSpans"]
    if stack.app.kind == "ts":
        assert [(m["scope"], m["kind"], m["values"]) for m in trace["metadata"]] == [
            ("run", "userland.summary", {"flaky": True})
        ]
        assert [(m["scope"], m["kind"], m["values"]) for m in call["metadata"]] == [
            ("step", "userland.calls", {"execution": 3})
        ]
    else:  # the Python SDK sends none
        assert trace["metadata"] == call["metadata"] == []


def test_a_checkpointing_sdk_runs_consecutive_steps_in_one_call(stack: Stack) -> None:
    """The TypeScript SDK v4 runs the worker's two steps in its first call and reports each
    to ``/v1/checkpoint`` (so the run takes one call); without checkpointing, and on the
    Python SDK, each step is a call of its own."""
    (event_id,) = stack.server.send({"name": "compat/fanout.item", "data": {"item_id": "k-1"}})
    (run,) = stack.server.wait_event_runs(event_id, 1, timeout=DEADLINE)
    assert run["status"] == "Completed", run
    assert run["output"] == {"item_id": "k-1", "result": "processed:k-1:3"}
    history = stack.server.request("GET", f"/v1/runs/{run['run_id']}/history").json()["data"]
    done = [
        (h["name"], h.get("checkpoint", False)) for h in history if h["kind"] == "step_completed"
    ]
    checkpointing = stack.app.kind == "ts" and not stack.app.env
    assert done == [("fetch-item", checkpointing), ("process-item", checkpointing)], history
    assert stack.ledger_runs()[run["run_id"]]["steps"] == {
        "fetch-item": 1,
        "process-item": 1,
        RETURNED: 1,
    }


def rerun_of(
    stack: Stack,
    run_id: str,
    wait_until: Callable[..., Any],
    from_step: str | None = None,
    **body: Any,
) -> dict[str, Any]:
    """Rerun `run_id` (from `from_step`, if given) and wait for the rerun to end."""
    if from_step is not None:
        body["from_step"] = from_step
    resp = stack.server.request("POST", f"/v1/runs/{run_id}/rerun", json=body)
    assert resp.status_code == 200, resp.text
    rerun_id = resp.json()["data"]["run_id"]

    def ended() -> dict[str, Any] | None:
        run: dict[str, Any] = stack.server.request("GET", f"/v1/runs/{rerun_id}").json()["data"]
        return run if run["status"] != "Running" else None

    rerun: dict[str, Any] = wait_until(ended, timeout=DEADLINE, what="the rerun to end")
    return rerun


def test_a_rerun_runs_every_step_again_as_a_new_linked_run(
    stack: Stack, wait_until: Callable[..., Any]
) -> None:
    (event_id,) = stack.server.send({"name": "compat/flaky.start", "data": {"tag": tag()}})
    (original,) = stack.server.wait_event_runs(event_id, 1, timeout=DEADLINE)

    rerun = rerun_of(stack, original["run_id"], wait_until)
    rerun_id = rerun["run_id"]
    assert (rerun["status"], rerun["original_run_id"]) == ("Completed", original["run_id"])
    assert rerun["event_ids"] == original["event_ids"]
    # The step ran anew in the rerun (its memos are the rerun's own).
    assert stack.ledger_runs()[rerun_id]["steps"] == {"unreliable-call": 3}


def test_a_rerun_from_a_step_replays_the_earlier_steps_from_their_results(
    stack: Stack, wait_until: Callable[..., Any]
) -> None:
    (event_id,) = stack.server.send({"name": "compat/fanout.item", "data": {"item_id": "r-1"}})
    (original,) = stack.server.wait_event_runs(event_id, 1, timeout=DEADLINE)

    rerun = rerun_of(stack, original["run_id"], wait_until, from_step="process-item")
    rerun_id = rerun["run_id"]
    assert (rerun["status"], rerun["output"]) == ("Completed", original["output"]), rerun
    # fetch-item was not run again: its result came from the original.
    assert stack.ledger_runs()[rerun_id]["steps"] == {"process-item": 1, RETURNED: 1}


def test_a_rerun_from_a_step_with_an_edited_input_runs_it_with_that_input(
    stack: Stack, wait_until: Callable[..., Any]
) -> None:
    """The TypeScript SDK runs the step with the edited arguments; the Python SDK would read
    them as the step's result, so the server refuses the edit for a Python app."""
    (event_id,) = stack.server.send({"name": "compat/fanout.item", "data": {"item_id": "e-1"}})
    (original,) = stack.server.wait_event_runs(event_id, 1, timeout=DEADLINE)
    edited = [{"item_id": "edited", "size": 99}]
    if stack.app.kind == "py":
        body = {"from_step": "process-item", "input": edited}
        resp = stack.server.request("POST", f"/v1/runs/{original['run_id']}/rerun", json=body)
        assert resp.status_code == 400 and "TypeScript SDK" in resp.json()["error"], resp.text
        return
    rerun = rerun_of(stack, original["run_id"], wait_until, "process-item", input=edited)
    assert rerun["status"] == "Completed", rerun
    assert rerun["output"] == {"item_id": "e-1", "result": "processed:edited:99"}
    assert stack.ledger_runs()[rerun["run_id"]]["steps"] == {"process-item": 1, RETURNED: 1}


def test_on_failure_handler_runs_once_with_the_error(
    stack: Stack, wait_until: Callable[..., Any]
) -> None:
    (event_id,) = stack.server.send({"name": "compat/doomed.start", "data": {"tag": tag()}})

    (run,) = stack.server.wait_event_runs(event_id, 1, timeout=DEADLINE)

    assert run["status"] == "Failed", run
    # retries=1: the failing step gets exactly two attempts.
    assert stack.ledger_runs()[run["run_id"]]["steps"] == {"always-fails": 2}

    def handler_calls() -> list[dict[str, Any]]:
        failures: list[dict[str, Any]] = stack.app.counts()["failures"]
        return [f for f in failures if f["failed_run_id"] == run["run_id"]]

    first = wait_until(handler_calls, timeout=DEADLINE, what="the onFailure handler")[0]
    handler_run = stack.server.wait_run(first["handler_run_id"], timeout=DEADLINE)
    assert handler_run["status"] == "Completed", handler_run
    # Once the handler's run has finished, nothing may call it again.
    calls = handler_calls()
    assert len(calls) == 1, f"onFailure ran {len(calls)} times: {calls}"
    (call,) = calls
    assert call["event_name"] == "inngest/function.failed"
    assert call["function_id"] == f"{stack.app_id}-doomed"
    assert "compat-doomed-failure" in (call["error_message"] or ""), call
    # The Go server's wording for the status of the app's final answer, which the SDKs' own
    # suites expect: Python answers a function error with 500, TypeScript v4 (its step
    # failed for good, so no retry) with 400.
    status = 500 if stack.app.kind == "py" else 400
    assert call["error_status"] == f"invalid status code: {status}", call


def test_server_syncs_an_app_given_with_u(
    surge_server: Callable[..., SurgeServer],
    app_process: Callable[..., AppProcess],
    wait_until: Callable[..., Any],
    stack: Stack,
) -> None:
    """``surge dev -u URL`` pings the app itself: no manual PUT needed."""
    server = surge_server(start=False)
    app = app_process(stack.app.kind, server)
    server.sdk_urls.append(app.serve_url)
    server.start()
    expected = {f"{app.app_id}-{fn}" for fn in APP_FUNCTIONS}

    wait_until(
        lambda: expected <= server.function_slugs(),
        timeout=DEADLINE,
        what=f"surge dev -u {app.serve_url} to sync the app",
        detail=lambda: f"GET /dev lists {sorted(server.function_slugs())}",
    )
    (event_id,) = server.send({"name": "compat/flaky.start", "data": {}})
    (run,) = server.wait_event_runs(event_id, 1, timeout=DEADLINE)
    assert run["status"] == "Completed", run
