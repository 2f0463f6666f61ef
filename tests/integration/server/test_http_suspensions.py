"""Pausing a function (``POST /v1/functions/{id}/pause`` and ``/resume``): events record
skipped runs, cron does not fire, running runs go on or are cancelled, as the operator
chose."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conftest import Harness, ScriptedApp


async def pause(server: Harness, slug: str, **body: Any) -> dict[str, Any]:
    resp = await server.client.post(f"/v1/functions/{slug}/pause", json=body or None)
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()["data"]
    return data


async def test_a_paused_function_records_skipped_runs_until_it_is_resumed(
    any_db: Harness, sdk_app: ScriptedApp
) -> None:
    paused_fn = sdk_app.function("su", "held", [{"event": "su/go"}])
    other = sdk_app.function("su", "free", [{"event": "su/go"}])
    sdk_app.script("su-held", lambda call: sdk_app.ok(call.body["event"]["data"]["n"]))
    sdk_app.script("su-free", lambda call: sdk_app.ok("free"))
    await sdk_app.register(any_db, "su", [paused_fn, other])

    paused = await pause(any_db, "su-held")
    assert (paused["function_id"], paused["paused"], paused["paused_by"]) == (
        "su-held",
        True,
        "api",
    )
    dev = (await any_db.client.get("/dev")).json()
    assert {f["slug"]: f["paused"] for f in dev["functions"]} == {"su-held": True, "su-free": False}

    [while_paused] = await any_db.send({"name": "su/go", "data": {"n": 1}})
    runs = {r["function_id"]: r for r in await any_db.wait_event_runs(while_paused, 2)}
    assert (runs["su-held"]["status"], runs["su-held"]["skip_reason"]) == ("Skipped", "paused")
    assert runs["su-free"]["status"] == "Completed"  # the other function is not paused
    assert sdk_app.calls("su-held") == []
    # Pausing again changes nothing: the first pause stands.
    assert (await pause(any_db, "su-held"))["paused_at"] == paused["paused_at"]

    resp = await any_db.client.post("/v1/functions/su-held/resume")
    assert resp.json()["data"] == {"function_id": "su-held", "paused": False, "was_paused": True}
    [after] = await any_db.send({"name": "su/go", "data": {"n": 2}})
    runs = {r["function_id"]: r for r in await any_db.wait_event_runs(after, 2)}
    assert (runs["su-held"]["status"], runs["su-held"]["output"]) == ("Completed", 2)
    again = await any_db.client.post("/v1/functions/su-held/resume")
    assert again.json()["data"]["was_paused"] is False


async def test_pausing_lets_running_runs_finish_or_cancels_them_when_asked(
    any_db: Harness, sdk_app: ScriptedApp
) -> None:
    function = sdk_app.function("su", "nap", [{"event": "su/nap"}])
    nap = sdk_app.op("Sleep", "nap", name="1h")
    sdk_app.script("su-nap", lambda call: sdk_app.ops(nap))
    await sdk_app.register(any_db, "su", [function])
    ids = await any_db.send([{"name": "su/nap", "data": {}} for _ in range(3)])
    await sdk_app.wait_calls("su-nap", 3)
    run_ids = [(await any_db.event_runs(event_id))[0]["run_id"] for event_id in ids]

    await pause(any_db, "su-nap")  # running runs go on
    assert {(await any_db.run(r))["status"] for r in run_ids} == {"Running"}

    paused = await pause(any_db, "su-nap", cancel_running=True)
    assert paused["paused"] is True
    for run_id in run_ids:
        cancelled = await any_db.wait_run(run_id)
        assert cancelled["status"] == "Cancelled"
        [entry] = [h for h in await any_db.history(run_id) if h["kind"] == "cancelled"]
        assert entry["by"] == "pause"
    [job] = await any_db.get_data("/v1/cancellations")
    assert (job["function_id"], job["requested_by"]) == ("su-nap", "pause")


async def test_a_paused_function_s_cron_does_not_fire_and_its_schedule_goes_on(
    server: Harness, sdk_app: ScriptedApp
) -> None:
    function = sdk_app.function("su", "tick", [{"cron": "* * * * *"}])
    sdk_app.script("su-tick", [sdk_app.ok("ticked")])
    await sdk_app.register(server, "su", [function])
    await pause(server, "su-tick")
    [tick] = await server.cron_items()

    await server.engine.handle(tick)

    assert await server.get_data("/v1/runs", function_id="su-tick") == []
    [following] = await server.cron_items()
    assert following.payload["fire_at"] == tick.payload["fire_at"] + 60_000
    await server.client.post("/v1/functions/su-tick/resume")
    await server.engine.handle(following)
    [run] = await server.get_data("/v1/runs", function_id="su-tick")
    assert (await server.wait_run(run["run_id"]))["output"] == "ticked"


async def test_a_paused_function_cannot_be_rerun_and_bad_pauses_are_refused(
    server: Harness, sdk_app: ScriptedApp
) -> None:
    function = sdk_app.function("su", "once", [{"event": "su/once"}])
    sdk_app.script("su-once", lambda call: sdk_app.ok(1))
    await sdk_app.register(server, "su", [function])
    [event_id] = await server.send({"name": "su/once"})
    [run] = await server.wait_event_runs(event_id, 1)
    await pause(server, "su-once")

    resp = await server.client.post(f"/v1/runs/{run['run_id']}/rerun")
    assert resp.status_code == 409 and "paused" in resp.json()["error"], resp.text

    for path, body, status, words in [
        ("/v1/functions/su-nope/pause", None, 404, "su-nope"),
        ("/v1/functions/su-nope/resume", None, 404, "su-nope"),
        ("/v1/functions/su-once/pause", {"cancel_running": "yes"}, 400, "cancel_running"),
        ("/v1/functions/su-once/pause", {"cancel": True}, 400, "unknown field 'cancel'"),
        ("/v1/functions/su-once/pause", [1], 400, "JSON object"),
    ]:
        resp = await server.client.post(path, json=body)
        assert resp.status_code == status and words in resp.json()["error"], (path, resp.text)


async def test_graphql_pauses_and_unpauses_a_function_and_shows_it(
    server: Harness, sdk_app: ScriptedApp
) -> None:
    function = sdk_app.function("su", "gql", [{"event": "su/gql"}])
    sdk_app.script("su-gql", lambda call: sdk_app.ok(1))
    await sdk_app.register(server, "su", [function])
    [event_id] = await server.send({"name": "su/gql"})
    [run] = await server.wait_event_runs(event_id, 1)

    async def gql(query: str) -> dict[str, Any]:
        body: dict[str, Any] = (await server.client.post("/v0/gql", json={"query": query})).json()
        return body

    paused = await gql('mutation { pauseFunction(functionSlug: "su-gql") { slug isPaused } }')
    assert paused["data"]["pauseFunction"] == {"slug": "su-gql", "isPaused": True}
    listed = await gql("{ functions { slug isPaused } }")
    assert listed["data"]["functions"] == [{"slug": "su-gql", "isPaused": True}]
    refused = await gql(f'mutation {{ rerun(runID: "{run["run_id"]}") }}')
    [error] = refused["errors"]
    assert error["extensions"]["code"] == "CONFLICT" and "paused" in error["message"]
    resumed = await gql('mutation { unpauseFunction(functionSlug: "su-gql") { isPaused } }')
    assert resumed["data"]["unpauseFunction"] == {"isPaused": False}
    missing = await gql('mutation { pauseFunction(functionSlug: "su-nope") { slug } }')
    assert missing["errors"][0]["extensions"]["code"] == "NOT_FOUND"
