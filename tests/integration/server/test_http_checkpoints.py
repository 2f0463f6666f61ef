"""Checkpoints (`POST /v1/checkpoint/{run id}/async`) through the server: an app runs several
steps in one call and reports each as it finishes, as the TypeScript SDK v4 does
(`docs/protocol.md`, "Checkpointing"). The scripted app posts the checkpoints itself, from
inside the call, so each test decides exactly what the server sees and when."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from conftest import Harness, Received, Reply, ScriptedApp

A, B, C = "aaaa", "bbbb", "cccc"  # hashed step ids, as an SDK sends them
RUN_COMPLETE = "0737c22d3bfae812339732d14d8c7dbd6dc4e09c"


def step_run(step: str, data: Any, *, ran_ms: int | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"op": "StepRun", "id": step, "name": f"step-{step}", "data": data}
    if ran_ms is not None:  # the TypeScript SDK's timing: start and duration in nanoseconds
        op["timing"] = {"a": 0, "b": ran_ms * 1_000_000}
    return op


def run_complete(data: Any) -> dict[str, Any]:
    return {"op": "RunComplete", "id": RUN_COMPLETE, "data": data}


async def checkpoint(
    server: Harness, call: Received, *steps: dict[str, Any], qi_id: str | None = None
) -> Any:
    """Post `steps` as the SDK would from inside `call`."""
    ctx = call.ctx
    body = {
        "run_id": ctx["run_id"],
        "fn_id": ctx["fn_id"],
        "qi_id": qi_id if qi_id is not None else ctx["qi_id"],
        "request_started_at": server.now_ms(),
        "steps": list(steps),
        "ts": server.now_ms(),
    }
    return await server.client.post(f"/v1/checkpoint/{ctx['run_id']}/async", json=body)


async def actions_of(server: Harness, run_id: str) -> Any:
    """The run's memos as the SDKs fetch them (`GET /v0/runs/{id}/actions`)."""
    resp = await server.client.get(f"/v0/runs/{run_id}/actions")
    assert resp.status_code == 200, resp.text
    return resp.json()


async def start(
    server: Harness, sdk_app: ScriptedApp, handler: Any, **options: Any
) -> tuple[str, str]:
    """Register a function answered by `handler`; send its event; its slug and the event id."""
    function = sdk_app.function("cp", "fn", [{"event": "cp/go"}], retries=options.pop("retries", 0))
    function.update(options)
    sdk_app.script(function["id"], handler)
    await sdk_app.register(server, "cp", [function])
    [event_id] = await server.send({"name": "cp/go"})
    return function["id"], event_id


async def test_steps_checkpointed_in_one_call_are_memoized_and_traced(
    any_db: Harness, sdk_app: ScriptedApp
) -> None:
    server = any_db
    answers: list[int] = []

    async def handler(call: Received) -> Reply:
        assert call.ctx["fn_id"] == "cp-fn" and call.ctx["qi_id"], call.ctx
        for step in (step_run(A, 1, ran_ms=40), step_run(B, {"two": 2}, ran_ms=5)):
            resp = await checkpoint(server, call, step)
            answers.append(resp.status_code)
        return sdk_app.ops(step_run(C, 3), run_complete({"sum": 6}))

    slug, event_id = await start(server, sdk_app, handler)
    [run] = await server.wait_event_runs(event_id, 1)
    history = await server.history(run["run_id"])
    actions = await actions_of(server, run["run_id"])

    assert answers == [200, 200]
    assert run["status"] == "Completed" and run["output"] == {"sum": 6}, run
    assert len(sdk_app.calls(slug)) == 1  # one call ran all three steps
    assert (actions.get(A), actions.get(B), actions.get(C)) == (
        {"data": 1},
        {"data": {"two": 2}},
        {"data": 3},
    )
    done = [h for h in history if h["kind"] == "step_completed"]
    assert [(h["name"], h.get("checkpoint"), h["attempt"]) for h in done] == [
        ("step-aaaa", True, 0),
        ("step-bbbb", True, 0),
        ("step-cccc", None, 0),
    ], history
    # Each checkpointed step keeps its own running time, ending when it was reported.
    first = done[0]
    assert server.parse_iso(first["at"]) - first["began"] == 40, first
    # The run's memo order (its stack) is the order the steps finished in.
    state = await server.engine.run_state(run["run_id"])
    assert [m.step_id for m in state.memos] == [A, B, C]
    # The trace shows each step as a span of its own: its attempt, running time and output.
    query = """query ($runID: String!) { run(runID: $runID) { trace(preview: true) {
      childrenSpans { name attempts duration status outputID } } } }"""
    resp = await server.client.post(
        "/v0/gql", json={"query": query, "variables": {"runID": run["run_id"]}}
    )
    spans = resp.json()["data"]["run"]["trace"]["childrenSpans"]
    assert [(s["name"], s["attempts"], s["status"]) for s in spans[:3]] == [
        ("step-aaaa", 1, "COMPLETED"),
        ("step-bbbb", 1, "COMPLETED"),
        ("step-cccc", 1, "COMPLETED"),
    ], spans
    assert spans[0]["duration"] == 40, spans[0]
    output = """query ($id: String!) { runTraceSpanOutputByID(outputID: $id) { data } }"""
    resp = await server.client.post(
        "/v0/gql", json={"query": output, "variables": {"id": spans[1]["outputID"]}}
    )
    assert orjson.loads(resp.json()["data"]["runTraceSpanOutputByID"]["data"]) == {"two": 2}


async def test_a_checkpoint_sent_again_changes_nothing(
    asgi_server: Harness, sdk_app: ScriptedApp
) -> None:
    server = asgi_server

    async def handler(call: Received) -> Reply:
        for data in (1, 99):  # the SDK retries a checkpoint whose answer it lost
            resp = await checkpoint(server, call, step_run(A, data))
            assert resp.status_code == 200, resp.text
        return sdk_app.ops(run_complete("done"))

    _, event_id = await start(server, sdk_app, handler)
    [run] = await server.wait_event_runs(event_id, 1)
    actions = await actions_of(server, run["run_id"])

    assert run["status"] == "Completed", run
    assert actions == {A: {"data": 1}}  # the first write stands
    history = await server.history(run["run_id"])
    completed = [h for h in history if h["kind"] == "step_completed"]
    assert [h["step_id"] for h in completed] == [A]  # one line, not one per checkpoint sent


async def test_a_checkpoint_for_a_run_cancelled_meanwhile_keeps_its_step_and_stops_the_call(
    asgi_server: Harness, sdk_app: ScriptedApp
) -> None:
    """A run cancelled while its call is in flight keeps the steps the call finished, as an
    ordinary call's commit does; the checkpoint is answered 409 so that nothing after them
    runs."""
    server = asgi_server
    refused: list[Any] = []

    async def handler(call: Received) -> Reply:
        resp = await server.client.delete(f"/v1/runs/{call.ctx['run_id']}")
        assert resp.status_code == 200, resp.text
        refused.append(await checkpoint(server, call, step_run(A, 1)))
        # What the TypeScript SDK answers when told its dispatch is stale.
        return sdk_app.fn_error(
            "Stale dispatch: checkpoint returned 409", status=400, no_retry=True
        )

    slug, event_id = await start(server, sdk_app, handler)
    [run] = await server.wait_event_runs(event_id, 1)
    await sdk_app.wait_calls(slug, 1)
    await asyncio.sleep(0.2)  # the call's answer is committed
    actions = await actions_of(server, run["run_id"])
    history = await server.history(run["run_id"])
    run = await server.run(run["run_id"])

    [resp] = refused
    assert resp.status_code == 409, resp.text
    assert "has ended" in resp.json()["error"]
    assert run["status"] == "Cancelled", run
    assert actions == {A: {"data": 1}}
    assert [h["kind"] for h in history if h.get("step_id") == A] == ["step_completed"], history
    assert len(sdk_app.calls(slug)) == 1


async def test_a_checkpoint_from_a_call_that_no_longer_holds_its_item_is_refused(
    any_db: Harness, sdk_app: ScriptedApp
) -> None:
    """A call's `qi_id` counts only while that call holds its work item: not once the item is
    done (a late or replayed checkpoint), nor with another lease token (the lease lapsed
    and another worker took the item). Nothing of a refused checkpoint is written."""
    server = any_db
    statuses: dict[str, int] = {}
    first_ref: list[str] = []

    async def handler(call: Received) -> Reply:
        if not call.body["steps"]:  # the first call: step A, the ordinary way
            first_ref.append(call.ctx["qi_id"])
            return sdk_app.ops(step_run(A, 1))
        statuses["done item"] = (
            await checkpoint(server, call, step_run(B, 2), qi_id=first_ref[0])
        ).status_code
        item_id, attempt, _ = call.ctx["qi_id"].split(":", 2)
        other = f"{item_id}:{attempt}:another-lease"
        statuses["other lease"] = (
            await checkpoint(server, call, step_run(B, 2), qi_id=other)
        ).status_code
        return sdk_app.ops(run_complete("ok"))

    _, event_id = await start(server, sdk_app, handler)
    [run] = await server.wait_event_runs(event_id, 1)
    actions = await actions_of(server, run["run_id"])

    assert statuses == {"done item": 409, "other lease": 409}
    assert run["status"] == "Completed", run
    assert actions == {A: {"data": 1}}


async def test_bad_checkpoints_get_errors_that_name_the_problem(
    asgi_server: Harness, sdk_app: ScriptedApp
) -> None:
    server = asgi_server
    answers: dict[str, Any] = {}

    async def handler(call: Received) -> Reply:
        run_id, qi_id = call.ctx["run_id"], call.ctx["qi_id"]
        url = f"/v1/checkpoint/{run_id}/async"
        post = server.client.post
        answers["not json"] = await post(url, content=b"{nope")
        answers["no qi_id"] = await post(url, json={"steps": [step_run(A, 1)]})
        answers["other run"] = await post(
            url, json={"run_id": "01J00000000000000000000000", "qi_id": qi_id, "steps": []}
        )
        answers["a sleep"] = await post(
            url, json={"qi_id": qi_id, "steps": [{"op": "Sleep", "id": B, "name": "1s"}]}
        )
        answers["steps not a list"] = await post(url, json={"qi_id": qi_id, "steps": {}})
        answers["unknown field"] = await post(url, json={"qi_id": qi_id, "steps": [], "x": 1})
        too_big = orjson.dumps({"qi_id": qi_id, "steps": [step_run(A, "x" * (17 << 20))]})
        answers["too large"] = await post(url, content=too_big)
        answers["unknown run"] = await server.client.post(
            "/v1/checkpoint/01J00000000000000000000000/async",
            json={"qi_id": qi_id, "steps": [step_run(A, 1)]},
        )
        return sdk_app.ops(run_complete("ok"))

    _, event_id = await start(server, sdk_app, handler)
    [run] = await server.wait_event_runs(event_id, 1)
    actions = await actions_of(server, run["run_id"])

    got = {name: (r.status_code, r.json()["error"]) for name, r in answers.items()}
    assert got["not json"][0] == 400 and "not JSON" in got["not json"][1]
    assert got["no qi_id"][0] == 400 and "qi_id" in got["no qi_id"][1]
    assert got["other run"][0] == 400 and "not the run of the URL" in got["other run"][1]
    assert got["a sleep"][0] == 400 and "only finished steps" in got["a sleep"][1]
    assert got["steps not a list"][0] == 400 and "steps" in got["steps not a list"][1]
    assert got["unknown field"][0] == 400 and "'x'" in got["unknown field"][1]
    assert got["too large"][0] == 413, got["too large"]
    assert got["unknown run"][0] == 409, got["unknown run"]
    assert run["status"] == "Completed", run
    assert actions == {}  # nothing of any refused checkpoint was written


async def test_a_call_that_checkpoints_keeps_its_concurrency_slot_until_it_answers(
    asgi_server: Harness, sdk_app: ScriptedApp
) -> None:
    """With a limit of one, a second run gets no call while the first run's call is still
    checkpointing steps, however long it takes."""
    server = asgi_server
    release = asyncio.Event()
    checkpointed = asyncio.Event()

    async def handler(call: Received) -> Reply:
        resp = await checkpoint(server, call, step_run(A, call.body["event"]["data"].get("n", 1)))
        assert resp.status_code == 200, resp.text
        checkpointed.set()
        await release.wait()
        return sdk_app.ops(run_complete("ok"))

    slug, _ = await start(server, sdk_app, handler, concurrency=[{"limit": 1}])
    await server.send({"name": "cp/go", "data": {"n": 2}})
    await asyncio.wait_for(checkpointed.wait(), 10)
    await asyncio.sleep(0.5)
    calls_while_held = len(sdk_app.calls(slug))
    release.set()
    await sdk_app.wait_calls(slug, 2)
    runs = [r for r in await server.get_data("/v1/runs") if r["function_id"] == slug]
    for run in runs:
        await server.wait_run(run["run_id"])

    assert calls_while_held == 1
    assert len(runs) == 2
