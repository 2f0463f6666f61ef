"""`interpret`: what an app's answer means for its run, with no HTTP and no storage."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from surge.core.errors import AppUnreachable
from surge.core.functions import EventTrigger, FunctionConfig
from surge.core.http_client import AppResponse
from surge.engine.responses import Call, Outcome, interpret
from surge.engine.retries import RetryPolicy
from surge.storage import (
    Memo,
    RunRecord,
    RunState,
    RunStatus,
    Then,
    WorkItem,
    WorkKind,
)

NOW = 1_700_000_000_000
RUN_ID = "01HZZZZZZZZZZZZZZZZZZZZZZZ"
SDK = {"x-inngest-sdk": "inngest-py:v0.5.19", "x-inngest-req-version": "2"}
EVENT_ID = "01HYYYYYYYYYYYYYYYYYYYYYYY"


def call(
    *,
    step_id: str = "step",
    attempt: int = 0,
    retries: int = 3,
    memos: list[Memo] | None = None,
    force_step_plan: bool = False,
) -> Call:
    run = RunRecord(
        id=RUN_ID,
        function_id="shop-fn",
        status=RunStatus.RUNNING,
        event_ids=[EVENT_ID],
        started_at=NOW - 1_000,
        request_version=2,
        force_step_plan=force_step_plan,
    )
    function = FunctionConfig(
        id="shop-fn",
        name="fn",
        triggers=(EventTrigger(event="shop/go"),),
        url="http://app.test/api/inngest?fnId=shop-fn&stepId=step",
        retries=retries,
        raw={},
    )
    item = WorkItem(
        id=7,
        kind=WorkKind.CALL,
        due_at=NOW - 5,
        run_id=RUN_ID,
        step_id=step_id,
        attempt=attempt,
        priority=0,
        payload={},
        lease_token="token:7",
    )
    state = RunState(run=run, events=[{"name": "shop/go", "data": {}}], memos=memos or [])
    return Call(
        state=state, function=function, item=item, now=NOW, policy=RetryPolicy(interval=10.0)
    )


def answer(status: int, body: Any, **headers: str) -> AppResponse:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return AppResponse(status=status, headers={**SDK, **headers}, body=raw)


def op(kind: str, step_id: str, **fields: Any) -> dict[str, Any]:
    return {"op": kind, "id": step_id, "name": step_id, **fields}


def history_kinds(outcome: Outcome) -> list[str]:
    return [entry.kind for entry in outcome.history]


def test_a_function_returning_ends_the_run_with_its_output() -> None:
    outcome = interpret(call(), answer(200, {"sent": 3}))

    assert outcome.ended is not None
    assert (outcome.ended.status, outcome.ended.output) == (RunStatus.COMPLETED, {"sent": 3})
    assert history_kinds(outcome) == ["completed"]
    assert outcome.retry_at is None and outcome.enqueue == []


def test_a_step_result_is_memoized_and_the_run_discovers_next_when_idle() -> None:
    outcome = interpret(call(), answer(206, [op("StepRun", "a1", data={"n": 1})]))

    assert outcome.ended is None
    assert outcome.memos == [
        Memo(step_id="a1", outcome={"data": {"n": 1}}, name="a1", op="StepRun", at=NOW)
    ]
    assert outcome.then is Then.DISCOVER_IF_IDLE
    assert history_kinds(outcome) == ["step_completed"]


def test_planned_steps_are_queued_once_each_and_force_step_planning() -> None:
    ops = [op("StepPlanned", "left"), op("StepPlanned", "right")]

    outcome = interpret(call(), answer(206, ops))

    assert [(i.kind, i.step_id, i.unique_key, i.due_at) for i in outcome.enqueue] == [
        (WorkKind.CALL, "left", f"{RUN_ID}:left", NOW),
        (WorkKind.CALL, "right", f"{RUN_ID}:right", NOW),
    ]
    assert outcome.run_update is not None and outcome.run_update.force_step_plan is True


def test_a_sleep_queues_a_wake_up_when_it_ends() -> None:
    outcome = interpret(call(), answer(206, [op("Sleep", "nap", opts={"duration": "90s"})]))

    [wake] = outcome.enqueue
    assert (wake.kind, wake.step_id, wake.due_at) == (WorkKind.WAKE, "nap", NOW + 90_000)
    assert history_kinds(outcome) == ["sleeping"]


def test_a_failing_step_with_attempts_left_is_retried_alone() -> None:
    error = {"name": "Error", "message": "boom", "stack": ""}

    outcome = interpret(call(step_id="a1"), answer(206, [op("StepError", "a1", error=error)]))

    assert outcome.retry_at == NOW + 10_000
    assert outcome.memos == [] and outcome.ended is None
    assert history_kinds(outcome) == ["step_error"]


def test_a_step_failing_inside_discovery_is_retried_by_a_call_of_its_own() -> None:
    error = {"name": "Error", "message": "boom", "stack": ""}

    outcome = interpret(call(), answer(206, [op("StepError", "a1", error=error)]))

    [retry] = outcome.enqueue
    assert (retry.step_id, retry.attempt, retry.due_at) == ("a1", 1, NOW + 10_000)
    assert outcome.retry_at is None


def test_a_step_out_of_attempts_memoizes_its_error_and_lets_the_function_handle_it() -> None:
    error = {"name": "Error", "message": "boom", "stack": ""}
    last = call(step_id="a1", attempt=3, retries=3)

    outcome = interpret(last, answer(206, [op("StepError", "a1", error=error)]))

    assert [(m.step_id, m.outcome, m.op) for m in outcome.memos] == [
        ("a1", {"error": error}, "StepFailed")
    ]
    assert outcome.then is Then.DISCOVER_IF_IDLE
    assert outcome.ended is None


@pytest.mark.parametrize(
    ("status", "headers", "retried"),
    [
        (500, {}, True),
        (500, {"x-inngest-no-retry": "true"}, False),
        (400, {"x-inngest-no-retry": "false"}, True),
    ],
)
def test_a_function_error_retries_unless_the_app_says_not_to(
    status: int, headers: dict[str, str], retried: bool
) -> None:
    body = {"name": "Error", "message": "nope", "stack": "trace"}

    outcome = interpret(call(), answer(status, body, **headers))

    if retried:
        assert outcome.retry_at == NOW + 10_000
        assert outcome.ended is None
        assert history_kinds(outcome) == ["call_error"]
    else:
        assert outcome.ended is not None
        # The app's error, with the Go server's wording the SDKs' test suites expect.
        error = {**body, "error": f"invalid status code: {status}"}
        assert (outcome.ended.status, outcome.ended.error) == (RunStatus.FAILED, error)


def test_retry_after_wins_over_the_backoff() -> None:
    outcome = interpret(call(), answer(500, {"message": "busy"}, **{"retry-after": "120"}))

    assert outcome.retry_at == NOW + 120_000


def test_the_last_attempt_of_a_failing_call_fails_the_run() -> None:
    outcome = interpret(call(attempt=3, retries=3), answer(500, {"message": "still broken"}))

    assert outcome.ended is not None and outcome.ended.status is RunStatus.FAILED
    assert outcome.ended.error == {"message": "still broken", "error": "invalid status code: 500"}
    assert history_kinds(outcome) == ["failed"]


def test_an_unreachable_app_is_retried_naming_what_happened() -> None:
    outcome = interpret(call(), AppUnreachable("could not connect to http://app.test"))

    assert outcome.retry_at == NOW + 10_000
    [entry] = outcome.history
    assert entry.detail["error"]["name"] == "AppUnreachable"
    assert "could not connect" in entry.detail["error"]["message"]


def test_an_answer_without_the_sdk_header_is_not_taken_for_a_result() -> None:
    proxy = AppResponse(status=200, headers={}, body=b'{"ok": true}')

    outcome = interpret(call(attempt=3, retries=3), proxy)

    assert outcome.ended is not None and outcome.ended.status is RunStatus.FAILED
    assert outcome.ended.error["name"] == "NotAnSDK"


def test_unreadable_opcodes_fail_the_call_saying_so() -> None:
    outcome = interpret(call(attempt=3, retries=3), answer(206, b"not json"))

    assert outcome.ended is not None
    assert outcome.ended.error["name"] == "InvalidResponse"


def deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(
    ("reply", "name", "text"),
    [
        (answer(200, deep(101)), "InvalidResponse", "nest more than 100 levels deep"),
        (
            answer(206, b'[{"op": "StepRun", "id": "s", "data": ' + deep(99) + b"}]"),
            "InvalidResponse",
            "nest more than 100 levels deep",
        ),
        # A streamed answer that cannot be unwrapped reads as a bad gateway.
        (
            answer(201, b'{"status": 200, "headers": {}, "body": ' + deep(300) + b"}"),
            "AppError",
            "HTTP 502",
        ),
    ],
    ids=["output", "step data", "streamed body"],
)
def test_an_answer_nested_deeper_than_an_event_may_is_refused_by_name(
    reply: AppResponse, name: str, text: str
) -> None:
    outcome = interpret(call(attempt=3, retries=3), reply)

    assert outcome.ended is not None and outcome.ended.status is RunStatus.FAILED
    assert outcome.ended.error["name"] == name
    assert text in outcome.ended.error["message"]


def test_an_answer_at_the_nesting_limit_is_kept() -> None:
    outcome = interpret(call(), answer(200, deep(100)))

    assert outcome.ended is not None and outcome.ended.status is RunStatus.COMPLETED


def test_a_step_tool_the_server_does_not_support_fails_the_run_by_name() -> None:
    outcome = interpret(call(), answer(206, [op("WaitForEvent", "wait", opts={})]))

    assert outcome.ended is not None and outcome.ended.status is RunStatus.FAILED
    assert "step.waitForEvent" in outcome.ended.error["message"]


def test_run_complete_ends_the_run_with_its_data() -> None:
    ops = [op("StepRun", "last", data=1), op("RunComplete", "done", data={"total": 2})]

    outcome = interpret(call(), answer(206, ops))

    assert outcome.ended is not None
    assert (outcome.ended.status, outcome.ended.output) == (RunStatus.COMPLETED, {"total": 2})
    assert [m.step_id for m in outcome.memos] == ["last"]


def test_events_a_step_sent_are_linked_to_the_run() -> None:
    ids = ["01HAAAAAAAAAAAAAAAAAAAAAAA", "01HBBBBBBBBBBBBBBBBBBBBBBB"]
    ops = [op("StepRun", "send", data={"ids": ids})]

    assert interpret(call(), answer(206, ops)).sent_events == ids
    # Python SDK shape: a plain list; anything else is not taken for event ids.
    assert interpret(call(), answer(206, [op("StepRun", "s", data=ids)])).sent_events == ids
    assert interpret(call(), answer(206, [op("StepRun", "s", data=["x"])])).sent_events == []


def test_a_streamed_answer_is_unwrapped() -> None:
    wrapped = {"status": 200, "headers": {}, "body": '{"done": true}'}

    outcome = interpret(call(), answer(201, b"   " + orjson.dumps(wrapped)))

    assert outcome.ended is not None and outcome.ended.output == {"done": True}


def test_a_new_request_version_is_recorded() -> None:
    outcome = interpret(call(), answer(200, None, **{"x-inngest-req-version": "1"}))

    assert outcome.run_update is not None and outcome.run_update.request_version == 1
    same = interpret(call(), answer(200, None))
    assert same.run_update is None
