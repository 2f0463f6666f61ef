"""Rerunning a run: ``POST /v1/runs/{id}/rerun`` and GraphQL ``rerun``, from the start, with
the same event(s), linked to the original."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conftest import Harness, Received, Reply, ScriptedApp


async def start(
    server: Harness, sdk_app: ScriptedApp, name: str, reply: Any, **options: Any
) -> tuple[str, dict[str, Any]]:
    function = sdk_app.function("re", name, [{"event": f"re/{name}"}], retries=0)
    function.update(options)
    sdk_app.script(function["id"], reply)
    await sdk_app.register(server, "re", [function])
    [event_id] = await server.send({"name": f"re/{name}", "data": {"key": "k-1"}})
    [run] = await server.event_runs(event_id)
    return run["run_id"], function


async def test_a_rerun_runs_the_function_again_with_the_same_event_and_links_back(
    server: Harness, sdk_app: ScriptedApp
) -> None:
    seen: list[tuple[str, str]] = []

    def reply(call: Received) -> Reply:
        seen.append((call.ctx["run_id"], call.body["event"]["id"]))
        return sdk_app.ok({"key": call.body["event"]["data"]["key"]})

    # An idempotency key would skip a second run of the event: a rerun is not skipped.
    original, _ = await start(server, sdk_app, "again", reply, idempotency="event.data.key")
    first = await server.wait_run(original)

    resp = await server.client.post(f"/v1/runs/{original}/rerun")
    assert resp.status_code == 200, resp.text
    rerun_id = resp.json()["data"]["run_id"]
    rerun = await server.wait_run(rerun_id)

    assert rerun_id != original
    assert (rerun["status"], rerun["output"]) == ("Completed", first["output"])
    assert (rerun["original_run_id"], rerun["event_ids"]) == (original, first["event_ids"])
    assert [run_id for run_id, _ in seen] == [original, rerun_id]
    said = {
        run_id: [
            (h["kind"], h["run_id"], h["by"])
            for h in await server.history(run_id)
            if "rerun" in h["kind"]
        ]
        for run_id in (original, rerun_id)
    }
    assert said == {
        original: [("rerun", rerun_id, "api")],
        rerun_id: [("rerun_of", original, "api")],
    }
    assert len({event_id for _, event_id in seen}) == 1  # the same event, both times
    listed = (await server.client.get("/v1/runs", params={"original_run_id": original})).json()
    assert [r["run_id"] for r in listed["data"]] == [rerun_id]
    query = "query($id: String!) { run(runID: $id) { originalRunID reruns { id originalRunID } } }"
    body = await server.client.post("/v0/gql", json={"query": query, "variables": {"id": original}})
    assert body.json()["data"]["run"] == {
        "originalRunID": None,
        "reruns": [{"id": rerun_id, "originalRunID": original}],
    }
    # A new event with that key is skipped, as the key says.
    [again] = await server.send({"name": "re/again", "data": {"key": "k-1"}})
    [skipped] = await server.event_runs(again)
    assert (skipped["status"], skipped["skip_reason"]) == ("Skipped", "idempotency")


async def test_graphql_reruns_from_the_start_and_refuses_an_edited_input_for_python_apps(
    server: Harness, sdk_app: ScriptedApp
) -> None:
    original, _ = await start(server, sdk_app, "gql", [sdk_app.ok(1), sdk_app.ok(2)])
    await server.wait_run(original)

    query = "mutation($id: ULID!) { rerun(runID: $id) }"
    body = (
        await server.client.post("/v0/gql", json={"query": query, "variables": {"id": original}})
    ).json()
    rerun = await server.wait_run(body["data"]["rerun"])
    assert (rerun["output"], rerun["original_run_id"]) == (2, original)

    # The Python SDK would read {"input": [...]} as the step's result: refused, saying why.
    step = sdk_app.step_run("s" * 40, "one")
    with_step, _ = await start(server, sdk_app, "gql-py", [sdk_app.ops(step), sdk_app.ok(2)])
    await server.wait_run(with_step)
    edit = 'mutation($id: ULID!) { rerun(runID: $id, fromStep: {stepID: "%s", input: "[1]"}) }'
    body = (
        await server.client.post(
            "/v0/gql", json={"query": edit % ("s" * 40), "variables": {"id": with_step}}
        )
    ).json()
    message = body["errors"][0]["message"]
    assert "py:v0.5.19" in message and "TypeScript SDK" in message, message
    listed = (await server.client.get("/v1/runs", params={"original_run_id": with_step})).json()
    assert listed["data"] == []  # nothing started


async def test_rerunning_an_unknown_run_or_a_function_gone_is_a_404_naming_it(
    server: Harness, sdk_app: ScriptedApp
) -> None:
    resp = await server.client.post("/v1/runs/01HZZZZZZZZZZZZZZZZZZZZZZZ/rerun")
    assert resp.status_code == 404 and "01HZZZZZZZZZZZZZZZZZZZZZZZ" in resp.json()["error"]

    original, _ = await start(server, sdk_app, "gone", [sdk_app.ok(1)])
    await server.wait_run(original)
    other = sdk_app.function("re", "other", [{"event": "re/other"}])
    await sdk_app.register(server, "re", [other])  # the app no longer serves re-gone

    resp = await server.client.post(f"/v1/runs/{original}/rerun")
    assert resp.status_code == 404 and "re-gone" in resp.json()["error"], resp.text


async def test_a_rerun_from_a_step_keeps_the_steps_before_it_and_runs_the_rest_again(
    server: Harness, sdk_app: ScriptedApp
) -> None:
    a, b, c = "a" * 40, "b" * 40, "c" * 40
    calls: list[dict[str, Any]] = []

    def reply(call: Received) -> Reply:
        steps = call.body["steps"]
        calls.append({"run": call.ctx["run_id"], "steps": sorted(steps)})
        for step_id, name in ((a, "load"), (b, "charge"), (c, "notify")):
            if step_id not in steps:
                data = f"{name}@{call.ctx['run_id'][-4:]}"
                return sdk_app.ops(
                    sdk_app.op("StepRun", step_id, name=name, displayName=name, data=data)
                )
        return sdk_app.ok([steps[a]["data"], steps[b]["data"], steps[c]["data"]])

    original, _ = await start(server, sdk_app, "steps", reply)
    first = await server.wait_run(original)

    resp = await server.client.post(f"/v1/runs/{original}/rerun", json={"from_step": "charge"})
    assert resp.status_code == 200, resp.text
    rerun_id = resp.json()["data"]["run_id"]
    rerun = await server.wait_run(rerun_id)

    tag, again = original[-4:], rerun_id[-4:]
    assert first["output"] == [f"load@{tag}", f"charge@{tag}", f"notify@{tag}"]
    # load kept its result; charge and notify ran again, in the rerun.
    assert rerun["output"] == [f"load@{tag}", f"charge@{again}", f"notify@{again}"]
    assert next(c["steps"] for c in calls if c["run"] == rerun_id) == [a]

    # By its hashed id through GraphQL; an unknown step is refused naming the run's steps.
    query = "mutation($id: ULID!, $step: String!) { rerun(runID: $id, fromStep: {stepID: $step}) }"
    body = (
        await server.client.post(
            "/v0/gql", json={"query": query, "variables": {"id": original, "step": c}}
        )
    ).json()
    from_notify = await server.wait_run(body["data"]["rerun"])
    assert from_notify["output"][:2] == [f"load@{tag}", f"charge@{tag}"]
    resp = await server.client.post(f"/v1/runs/{original}/rerun", json={"from_step": "nope"})
    assert resp.status_code == 400 and "'load', 'charge', 'notify'" in resp.json()["error"]


async def test_a_rerun_from_a_step_with_an_edited_input_sends_it_until_the_step_is_memoized(
    server: Harness, sdk_app: ScriptedApp
) -> None:
    """As Inngest's dev server does for the TypeScript SDK: the step's memo is
    ``{"input": [args]}``, outside the stack, until the step reports its result."""
    a, b = "a" * 40, "b" * 40
    calls: list[dict[str, Any]] = []

    def reply(call: Received) -> Reply:
        steps = call.body["steps"]
        calls.append({"run": call.ctx["run_id"], "steps": steps, "stack": call.ctx["stack"]})
        if a not in steps:
            return sdk_app.ops(sdk_app.op("StepRun", a, name="load", displayName="load", data=1))
        if b not in steps or "input" in steps[b]:
            args = steps.get(b, {}).get("input", [10])  # the code's argument, unless edited
            data = steps[a]["data"] + args[0]
            return sdk_app.ops(sdk_app.op("StepRun", b, name="add", displayName="add", data=data))
        return sdk_app.ok(steps[b]["data"])

    function = sdk_app.function("ts", "edit", [{"event": "ts/edit"}], retries=0)
    sdk_app.script(function["id"], reply)
    body = sdk_app.register_body("ts", [function]) | {"sdk": "js:v4.24.0"}
    resp = await server.client.post("/fn/register", json=body)
    assert resp.status_code == 200, resp.text
    [event_id] = await server.send({"name": "ts/edit"})
    [original] = await server.event_runs(event_id)
    assert (await server.wait_run(original["run_id"]))["output"] == 11

    resp = await server.client.post(
        f"/v1/runs/{original['run_id']}/rerun", json={"from_step": "add", "input": [100]}
    )
    assert resp.status_code == 200, resp.text
    rerun_id = resp.json()["data"]["run_id"]
    rerun = await server.wait_run(rerun_id)

    assert (rerun["status"], rerun["output"]) == ("Completed", 101)
    first, last = [c for c in calls if c["run"] == rerun_id]
    assert first["steps"] == {a: {"data": 1}, b: {"input": [100]}}
    assert first["stack"] == {"stack": [a], "current": 1}
    assert last["steps"][b] == {"data": 101}  # memoized: the input is no longer sent
    actions = (await server.client.get(f"/v0/runs/{rerun_id}/actions")).json()
    assert actions == {a: {"data": 1}, b: {"data": 101}}

    # Through GraphQL, as the Inngest UI sends it: the input as JSON text.
    edit = 'mutation($id: ULID!) { rerun(runID: $id, fromStep: {stepID: "add", input: "[5]"}) }'
    gql = await server.client.post(
        "/v0/gql", json={"query": edit, "variables": {"id": original["run_id"]}}
    )
    assert (await server.wait_run(gql.json()["data"]["rerun"]))["output"] == 6

    for bad, says in (
        ({"from_step": "add", "input": {"n": 1}}, "input must be a JSON array"),
        ({"input": [1]}, "needs the step it is for"),
        ({"from_step": "add", "input": [1], "extra": 1}, "extra"),
    ):
        resp = await server.client.post(f"/v1/runs/{original['run_id']}/rerun", json=bad)
        assert resp.status_code == 400 and says in resp.json()["error"], resp.text
