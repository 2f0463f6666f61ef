"""Span metadata: sent with a step's opcode or to ``POST /v1/runs/{id}/metadata``, combined by
kind, and read back on the trace as the TypeScript SDK's test harness reads it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conftest import Harness, Received, Reply, ScriptedApp

LOAD, SAVE = "a" * 40, "b" * 40

# The TypeScript SDK harness's query (`packages/test-harness/src/utils.ts`).
HARNESS_QUERY = """
fragment TraceMetadataFields on RunTraceSpan {
  name
  stepID
  spanID
  metadata { scope kind values updatedAt }
}
query ($runId: String!) {
  run(runID: $runId) {
    trace(preview: true) {
      ...TraceMetadataFields
      childrenSpans { ...TraceMetadataFields childrenSpans { ...TraceMetadataFields } }
    }
  }
}"""


async def trace_metadata(server: Harness, run_id: str) -> dict[str, Any]:
    resp = await server.client.post(
        "/v0/gql", json={"query": HARNESS_QUERY, "variables": {"runId": run_id}}
    )
    body = resp.json()
    assert "errors" not in body, body
    trace: dict[str, Any] = body["data"]["run"]["trace"]
    return trace


def kinds(span: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(m["scope"], m["kind"]): m["values"] for m in span["metadata"]}


async def test_metadata_from_steps_and_the_api_combines_by_kind_on_the_trace(
    any_db: Harness, sdk_app: ScriptedApp
) -> None:
    ai = {"gen_ai.request.model": "gpt-5.4-nano", "gen_ai.usage.input_tokens": 18}

    def reply(call: Received) -> Reply:
        steps = call.body["steps"]
        if LOAD not in steps:
            metadata = [
                {"kind": "inngest.ai", "scope": "step", "op": "set", "values": ai},
                {"kind": "userland.cost", "scope": "step", "op": "add", "values": {"usd": 2}},
            ]
            op = sdk_app.step_run(LOAD, "loaded") | {"name": "load", "metadata": metadata}
            return sdk_app.ops(op)
        if SAVE not in steps:
            malformed = [{"kind": "inngest.not-allowed", "op": "set", "values": {}}]
            return sdk_app.ops(sdk_app.step_run(SAVE, "saved") | {"metadata": malformed})
        return sdk_app.ok("done")

    function = sdk_app.function("md", "fn", [{"event": "md/go"}])
    sdk_app.script(function["id"], reply)
    await sdk_app.register(any_db, "md", [function])
    [event_id] = await any_db.send({"name": "md/go"})
    [run] = await any_db.event_runs(event_id)
    run_id = run["run_id"]
    assert (await any_db.wait_run(run_id))["status"] == "Completed"  # malformed: left out

    async def post(body: dict[str, Any]) -> Any:
        return await any_db.client.post(f"/v1/runs/{run_id}/metadata", json=body)

    score = {"kind": "inngest.score", "op": "merge", "values": {"accuracy": 0.9}}
    for body in (
        {"target": {"run_id": run_id}, "metadata": [score]},
        {"target": {"run_id": run_id}, "metadata": [score | {"values": {"latency": 3}}]},
        # By the step's name, as the SDK targets it; add sums numbers.
        {
            "target": {"run_id": run_id, "step_id": "load", "step_attempt": 0},
            "metadata": [{"kind": "userland.cost", "op": "add", "values": {"usd": 3}}],
        },
    ):
        resp = await post(body)
        assert resp.status_code == 200, resp.text
        assert resp.json()["data"] == {"updated": 1}

    trace = await trace_metadata(any_db, run_id)
    assert kinds(trace) == {("run", "inngest.score"): {"accuracy": 0.9, "latency": 3}}
    load, save, _end = trace["childrenSpans"]
    assert (load["name"], load["stepID"]) == ("load", LOAD)
    assert kinds(load) == {("step", "inngest.ai"): ai, ("step", "userland.cost"): {"usd": 5}}
    assert save["metadata"] == []
    assert all(m["updatedAt"].endswith("Z") for m in trace["metadata"] + load["metadata"])

    # set replaces, delete removes keys.
    for op, values in (("set", {"only": 1}), ("delete", {"only": None})):
        update = {"kind": "userland.note", "op": op, "values": values}
        resp = await post({"target": {"run_id": run_id}, "metadata": [update]})
        assert resp.status_code == 200, resp.text
    assert kinds(await trace_metadata(any_db, run_id))[("run", "userland.note")] == {}


async def test_bad_metadata_is_refused_naming_the_problem(
    any_db: Harness, sdk_app: ScriptedApp
) -> None:
    function = sdk_app.function("mdbad", "fn", [{"event": "mdbad/go"}])
    sdk_app.script(function["id"], [sdk_app.ok(1)])
    await sdk_app.register(any_db, "mdbad", [function])
    [event_id] = await any_db.send({"name": "mdbad/go"})
    [run] = await any_db.event_runs(event_id)
    run_id = run["run_id"]
    good = {"kind": "userland.x", "op": "merge", "values": {"a": 1}}

    for body, status, says in (
        ({"metadata": [good | {"kind": "inngest.fake"}]}, 400, "reserved"),
        ({"metadata": [good | {"op": "multiply"}]}, 400, "op must be one of"),
        ({"metadata": [good | {"values": [1]}]}, 400, "values must be an object"),
        ({"metadata": good}, 400, "must be a list"),
        ({"metadata": [good | {"kind": "userland." + "k" * 200}]}, 400, "kind must be"),
        ({"metadata": [good], "target": {"run_id": "01HOTHER"}}, 400, "not the run in the URL"),
        ({"metadata": [good], "target": {"step_attempt": 1}}, 400, "step_id must be given"),
        ({"metadata": [good], "extra": 1}, 400, "extra"),
    ):
        resp = await any_db.client.post(f"/v1/runs/{run_id}/metadata", json=body)
        assert (resp.status_code, says in resp.json()["error"]) == (status, True), resp.text
    unknown = "01HZZZZZZZZZZZZZZZZZZZZZZZ"
    resp = await any_db.client.post(f"/v1/runs/{unknown}/metadata", json={"metadata": [good]})
    assert resp.status_code == 404 and unknown in resp.json()["error"]
    resp = await any_db.client.post(
        f"/v1/runs/{run_id}/metadata", content=b'{"metadata": [' + b"1," * 40_000 + b"1]}"
    )
    assert resp.status_code == 413, resp.text
    assert (await trace_metadata(any_db, run_id))["metadata"] == []  # nothing half-written
