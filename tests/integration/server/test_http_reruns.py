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


async def test_graphql_reruns_from_the_start_and_refuses_to_edit_a_step_s_input(
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

    step = 'mutation($id: ULID!) { rerun(runID: $id, fromStep: {stepID: "s", input: "[1]"}) }'
    body = (
        await server.client.post("/v0/gql", json={"query": step, "variables": {"id": original}})
    ).json()
    assert "not served yet" in body["errors"][0]["message"]


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
