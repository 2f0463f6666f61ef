"""``POST /v0/gql``: runs, their traces, span outputs and triggers, as the official SDKs' test
harnesses query them; hostile queries refused."""

from __future__ import annotations

import asyncio
import datetime
from typing import TYPE_CHECKING, Any

import orjson
import pytest

from surge.engine import search

if TYPE_CHECKING:
    from conftest import Harness, Received, Reply, ScriptedApp

A = "a" * 40
B = "b" * 40

TRACE = """
query Trace($runID: String!) {
  runTrace(runID: $runID) {
    name status isRoot outputID
    childrenSpans { name stepID stepOp stepType status attempts outputID isRoot parentSpanID
                    queuedAt startedAt endedAt duration }
  }
}
"""
OUTPUT = """
query Output($id: String!) {
  runTraceSpanOutputByID(outputID: $id) { data error { message name stack cause } }
}
"""


async def gql(server: Harness, text: str, **variables: Any) -> dict[str, Any]:
    resp = await server.client.post("/v0/gql", json={"query": text, "variables": variables})
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def step(kind: str, step_id: str, name: str, **fields: Any) -> dict[str, Any]:
    return {"op": kind, "id": step_id, "name": name, "displayName": name, **fields}


async def start(server: Harness, sdk_app: ScriptedApp, name: str, reply: Any, retries: int) -> str:
    function = sdk_app.function("gql", name, [{"event": f"gql/{name}"}], retries=retries)
    sdk_app.script(function["id"], reply)
    await sdk_app.register(server, "gql", [function])
    [event_id] = await server.send({"name": f"gql/{name}", "data": {"order": 7}})
    [run] = await server.event_runs(event_id)
    run_id: str = run["run_id"]
    return run_id


async def test_a_run_s_trace_has_a_span_per_step_in_order_with_outputs(
    server: Harness, sdk_app: ScriptedApp
) -> None:
    def reply(call: Received) -> Reply:
        steps = call.body["steps"]
        if not steps:
            return sdk_app.ops(step("StepRun", A, "fetch", data={"n": 1}))
        if B not in steps and call.ctx["attempt"] == 0:
            error = {"name": "Error", "message": "flaky", "stack": "at save"}
            return sdk_app.ops(step("StepError", B, "save", error=error))
        if B not in steps:
            return sdk_app.ops(step("StepRun", B, "save", data="saved"))
        return sdk_app.ok({"done": True})

    run_id = await start(server, sdk_app, "traced", reply, retries=1)
    await server.wait_run(run_id)

    # The Python SDK's harness: the root span's output is the run's.
    body = await gql(
        server, "query($id: String!) { run(runID: $id) { status trace { outputID } } }", id=run_id
    )
    assert body["data"]["run"]["status"] == "COMPLETED", body
    output = await gql(server, OUTPUT, id=body["data"]["run"]["trace"]["outputID"])
    assert orjson.loads(output["data"]["runTraceSpanOutputByID"]["data"]) == {"done": True}

    trace = (await gql(server, TRACE, runID=run_id))["data"]["runTrace"]
    assert (trace["name"], trace["status"], trace["isRoot"]) == ("gql-traced", "COMPLETED", True)
    fetch, save, end = trace["childrenSpans"]
    assert [(s["name"], s["stepID"], s["stepType"], s["status"]) for s in (fetch, save, end)] == [
        ("fetch", A, "RUN", "COMPLETED"),
        ("save", B, "RUN", "COMPLETED"),
        ("Finalization", None, "FINALIZATION", "COMPLETED"),
    ]
    assert end["outputID"] == trace["outputID"]
    assert (fetch["attempts"], save["attempts"]) == (1, 2)
    assert {s["parentSpanID"] for s in (fetch, save)} == {run_id}
    assert not fetch["isRoot"] and save["endedAt"] >= save["startedAt"] >= save["queuedAt"]
    outputs = [(await gql(server, OUTPUT, id=s["outputID"]))["data"] for s in (fetch, save)]
    assert [orjson.loads(o["runTraceSpanOutputByID"]["data"]) for o in outputs] == [
        {"n": 1},
        "saved",
    ]


async def test_a_step_s_span_starts_when_its_call_was_sent_not_when_it_answered(
    server: Harness, sdk_app: ScriptedApp
) -> None:
    async def reply(call: Received) -> Reply:
        if A in call.body["steps"]:
            return sdk_app.ok(None)
        if call.step_id == A:
            await asyncio.sleep(0.3)  # the step's own work
            return sdk_app.ops(step("StepRun", A, "slow", data=1))
        return sdk_app.ops(step("StepPlanned", A, "slow"))

    run_id = await start(server, sdk_app, "timed", reply, retries=0)
    await server.wait_run(run_id)

    trace = (await gql(server, TRACE, runID=run_id))["data"]["runTrace"]
    slow = trace["childrenSpans"][0]
    assert slow["name"] == "slow"
    queued, began, ended = (parse_time(slow[k]) for k in ("queuedAt", "startedAt", "endedAt"))
    assert queued <= began and (ended - began).total_seconds() >= 0.3, slow


RUN_TIMES = "query($id: String!) { run(runID: $id) { status queuedAt startedAt endedAt } }"


async def test_a_run_starts_when_its_first_call_is_sent_not_when_it_was_queued(
    dashboard_server: Harness, sdk_app: ScriptedApp
) -> None:
    """In GraphQL and on the run's dashboard page, which both serve."""
    server = dashboard_server
    gate = asyncio.Event()

    async def reply(call: Received) -> Reply:
        await gate.wait()
        return sdk_app.ok("done")

    function = sdk_app.function("gql", "one-at-a-time", [{"event": "gql/one-at-a-time"}])
    function["concurrency"] = [{"limit": 1}]
    sdk_app.script(function["id"], reply)
    await sdk_app.register(server, "gql", [function])
    events = await server.send([{"name": "gql/one-at-a-time", "data": {"n": n}} for n in (1, 2)])
    try:
        [call] = await sdk_app.wait_calls(function["id"], 1)
        runs = [run["run_id"] for event_id in events for run in await server.event_runs(event_id)]
        [first] = [run_id for run_id in runs if run_id == call.ctx["run_id"]]
        [second] = [run_id for run_id in runs if run_id != first]

        # The second run waits for the first's concurrency slot: queued, not started.
        waiting = (await gql(server, RUN_TIMES, id=second))["data"]["run"]
        assert waiting["queuedAt"] is not None and waiting["startedAt"] is None, waiting
        page = await server.client.get(f"/runs/{second}")
        assert "not yet: it waits to be called" in page.text
    finally:
        gate.set()
    for run_id in runs:
        await server.wait_run(run_id)
    one, two = [(await gql(server, RUN_TIMES, id=r))["data"]["run"] for r in (first, second)]
    assert parse_time(two["queuedAt"]) <= parse_time(one["endedAt"]), (one, two)
    assert parse_time(one["endedAt"]) <= parse_time(two["startedAt"]), (one, two)
    root = await gql(
        server, "query($id: String!) { runTrace(runID: $id) { startedAt } }", id=second
    )
    assert root["data"]["runTrace"]["startedAt"] == two["startedAt"]


def parse_time(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_a_failed_step_s_output_is_its_error(server: Harness, sdk_app: ScriptedApp) -> None:
    def reply(call: Received) -> Reply:
        if not call.body["steps"]:
            error = {"name": "TypeError", "message": "no such order", "stack": "at load"}
            return sdk_app.ops(step("StepError", A, "load", error=error))
        return sdk_app.fn_error("load failed", no_retry=True)

    run_id = await start(server, sdk_app, "broken", reply, retries=0)
    await server.wait_run(run_id)

    trace = (await gql(server, TRACE, runID=run_id))["data"]["runTrace"]
    load, end = trace["childrenSpans"]
    assert (trace["status"], load["name"], load["status"]) == ("FAILED", "load", "FAILED")
    assert (load["attempts"], end["stepType"], end["status"]) == (1, "FINALIZATION", "FAILED")
    failed = (await gql(server, OUTPUT, id=load["outputID"]))["data"]["runTraceSpanOutputByID"]
    assert failed == {
        "data": None,
        "error": {
            "message": "no such order",
            "name": "TypeError",
            "stack": "at load",
            "cause": None,
        },
    }
    run = await gql(server, OUTPUT, id=trace["outputID"])
    assert run["data"]["runTraceSpanOutputByID"]["error"]["message"] == "load failed"


async def test_a_run_s_trigger_gives_its_event_payloads(
    server: Harness, sdk_app: ScriptedApp
) -> None:
    run_id = await start(server, sdk_app, "plain", [sdk_app.ok(1)], retries=0)
    await server.wait_run(run_id)

    body = await gql(
        server,
        "query($id: String!) { runTrigger(runID: $id) { eventName IDs payloads isBatch } }",
        id=run_id,
    )

    trigger = body["data"]["runTrigger"]
    [payload] = [orjson.loads(p) for p in trigger["payloads"]]
    assert (trigger["eventName"], trigger["isBatch"]) == ("gql/plain", False)
    assert (payload["name"], payload["data"]) == ("gql/plain", {"order": 7})
    assert trigger["IDs"] == [payload["id"]]


async def test_an_unknown_run_is_an_error_not_null(server: Harness) -> None:
    body = await gql(server, '{ run(runID: "01HZZZZZZZZZZZZZZZZZZZZZZZ") { status } }')

    assert body["data"] == {"run": None}
    [error] = body["errors"]
    assert "01HZZZZZZZZZZZZZZZZZZZZZZZ" in error["message"]
    assert error["path"] == ["run"] and error["extensions"] == {"code": "NOT_FOUND"}


async def test_hostile_or_malformed_queries_are_refused_naming_why(server: Harness) -> None:
    deep = '{ runTrace(runID: "x") { ' + "childrenSpans { " * 16 + "name" + " }" * 17 + " }"
    aliased = "{ " + " ".join(f'a{i}: run(runID: "x") {{ status }}' for i in range(31)) + " }"
    cases = {
        deep: "levels deep; at most 16",
        aliased: "31 aliases; at most 30",
        '{ run(runID: "x") { secret } }': "Cannot query field 'secret'",
        "{ run(runID: ": "Syntax Error",
    }
    for query, reason in cases.items():
        body = await gql(server, query)
        assert "data" not in body or body["data"] is None, (query, body)
        assert any(reason in e["message"] for e in body["errors"]), (reason, body)

    for raw, reason in [(b"not json", "not JSON"), (b'{"variables": {}}', "'query' string")]:
        resp = await server.client.post("/v0/gql", content=raw)
        assert resp.status_code == 400 and reason in resp.json()["error"], resp.text
    huge = {"query": '{ run(runID: "x") { status } }', "pad": "x" * 70_000}
    resp = await server.client.post("/v0/gql", json=huge)
    assert resp.status_code == 413, resp.text


async def test_a_sleeping_step_s_span_waits_then_completes(
    server: Harness, sdk_app: ScriptedApp
) -> None:
    until: list[int] = []

    def reply(call: Received) -> Reply:
        if A in call.body["steps"]:
            return sdk_app.ok("rested")
        until.append(server.now_ms() + 1500)
        return sdk_app.ops(step("Sleep", A, server.iso_ms(until[0])) | {"displayName": "nap"})

    run_id = await start(server, sdk_app, "napper", reply, retries=0)

    async def sleeping() -> dict[str, Any] | None:
        trace = (await gql(server, TRACE, runID=run_id))["data"]["runTrace"]
        return trace if trace["childrenSpans"] else None

    trace = await server.wait_for(sleeping, what="the sleep's span")
    assert trace["status"] == "RUNNING" and trace["outputID"] is None
    [nap] = trace["childrenSpans"]
    assert (nap["name"], nap["stepOp"], nap["status"], nap["outputID"]) == (
        "nap",
        "SLEEP",
        "WAITING",
        None,
    )

    await server.wait_run(run_id)
    nap, _ = (await gql(server, TRACE, runID=run_id))["data"]["runTrace"]["childrenSpans"]
    assert (nap["name"], nap["stepOp"], nap["status"]) == ("nap", "SLEEP", "COMPLETED")
    output = await gql(server, OUTPUT, id=nap["outputID"])
    assert output["data"]["runTraceSpanOutputByID"] == {"data": "null", "error": None}


async def test_events_the_stream_and_the_catalog_list_what_the_server_holds(
    server: Harness, sdk_app: ScriptedApp
) -> None:
    run_id = await start(server, sdk_app, "listed", [sdk_app.ok("done")], retries=0)
    await server.wait_run(run_id)
    [event_id] = await server.send({"name": "gql/unheard", "data": {"n": 2}})

    # The TypeScript SDK's harness: the latest events, then the stream with each one's runs.
    body = await gql(
        server,
        "query Events($query: EventsQuery!) { events(query: $query) { id name payload } }",
        query={},
    )
    listed = body["data"]["events"]
    latest = listed[0]
    assert (latest["id"], latest["name"]) == (event_id, "gql/unheard")
    assert orjson.loads(latest["payload"])["data"] == {"n": 2}
    [started] = [e for e in listed if e["name"] == "gql/listed"]
    assert "inngest/function.finished" in {e["name"] for e in listed}  # every event
    stream = """query GetEventStream {
      stream(query: {limit: 999, includeInternalEvents: false}) {
        id trigger type runs { id status function { name slug app { id } } } } }"""
    items = (await gql(server, stream))["data"]["stream"]
    assert [(i["id"], i["trigger"], i["type"]) for i in items[:2]] == [
        (event_id, "gql/unheard", "EVENT"),
        (started["id"], "gql/listed", "EVENT"),
    ]
    assert items[0]["runs"] == []
    [run] = items[1]["runs"]
    assert (run["id"], run["status"]) == (run_id, "COMPLETED")
    assert run["function"]["slug"] == "gql-listed" and run["function"]["app"]["id"] == "gql"
    assert all(not i["trigger"].startswith("inngest/") for i in items)
    internal = await gql(
        server, "{ stream(query: {limit: 999, includeInternalEvents: true}) { trigger } }"
    )
    # A page of one, then the next older one, then only what came after the first.
    [newest] = (await gql(server, "{ stream(query: {limit: 1}) { id } }"))["data"]["stream"]
    older = await gql(
        server, "query($b: ID) { stream(query: {limit: 1, before: $b}) { id } }", b=newest["id"]
    )
    assert [i["id"] for i in older["data"]["stream"]] == [started["id"]]
    newer = await gql(
        server, "query($a: ID) { stream(query: {limit: 10, after: $a}) { id } }", a=started["id"]
    )
    assert [i["id"] for i in newer["data"]["stream"]] == [event_id]
    assert "inngest/function.finished" in {i["trigger"] for i in internal["data"]["stream"]}

    # The older harness: one event with the runs it started.
    one = await gql(
        server,
        "query($id: ID!) { event(query: {eventId: $id}) {"
        " name totalRuns functionRuns { id name } } }",
        id=started["id"],
    )
    assert one["data"]["event"] == {
        "name": "gql/listed",
        "totalRuns": 1,
        "functionRuns": [{"id": run_id, "name": "listed"}],
    }

    catalog = await gql(
        server,
        """{ functions { slug name triggers { type value } appID }
      functionBySlug(query: {functionSlug: "gql-listed"}) { name config }
      apps { id sdkLanguage functionCount functions { slug } } }""",
    )
    data = catalog["data"]
    assert {
        "slug": "gql-listed",
        "name": "listed",
        "triggers": [{"type": "EVENT", "value": "gql/listed"}],
        "appID": "gql",
    } in data["functions"]
    assert orjson.loads(data["functionBySlug"]["config"])["id"] == "gql-listed"
    [app] = data["apps"]
    assert app["id"] == "gql" and app["functionCount"] == len(app["functions"]) >= 1


async def test_an_unknown_event_is_an_error_and_a_stream_limit_is_bounded(server: Harness) -> None:
    body = await gql(server, '{ event(query: {eventId: "nope"}) { name } }')
    assert body["data"] == {"event": None}
    assert body["errors"][0]["extensions"] == {"code": "NOT_FOUND"}

    body = await gql(server, "{ stream(query: {limit: 5000}) { id } }")
    assert body["data"] is None
    assert "limit must be from 1 to 1000" in body["errors"][0]["message"]


async def test_mutations_cancel_a_run_and_invoke_a_function(
    server: Harness, sdk_app: ScriptedApp
) -> None:
    def reply(call: Received) -> Reply:
        if call.body["event"]["name"] == "inngest/function.invoked":
            return sdk_app.ok({"got": call.body["event"]["data"]["x"]})
        return sdk_app.ops(step("Sleep", A, "1h") | {"displayName": "long"})

    run_id = await start(server, sdk_app, "stoppable", reply, retries=0)

    async def sleeping() -> bool:
        return any(h["kind"] == "sleeping" for h in await server.history(run_id))

    await server.wait_for(sleeping, what="the run to sleep")
    body = await gql(
        server, "mutation($id: ULID!) { cancelRun(runID: $id) { id status } }", id=run_id
    )
    assert body["data"]["cancelRun"] == {"id": run_id, "status": "CANCELLED"}
    assert (await server.wait_run(run_id))["status"] == "Cancelled"

    invoked = await gql(
        server,
        'mutation { invokeFunction(functionSlug: "gql-stoppable", data: {x: 5}) }',
    )
    assert invoked == {"data": {"invokeFunction": True}}
    runs = (
        await gql(
            server,
            "{ stream(query: {limit: 10, includeInternalEvents: true})"
            " { trigger runs { id status } } }",
        )
    )["data"]["stream"]
    [item] = [i for i in runs if i["trigger"] == "inngest/function.invoked"]
    [run] = item["runs"]
    finished = await server.wait_run(run["id"])
    assert (finished["status"], finished["output"]) == ("Completed", {"got": 5})

    unknown = await gql(server, 'mutation { invokeFunction(functionSlug: "gql-nope") }')
    assert unknown["data"] == {"invokeFunction": None}
    assert "gql-nope" in unknown["errors"][0]["message"]


RUNS = """
query Runs($filter: RunsFilterV2!, $first: Int!, $after: String, $dir: RunsOrderByDirection!) {
  runs(filter: $filter, first: $first, after: $after,
       orderBy: [{field: QUEUED_AT, direction: $dir}]) {
    edges { cursor node { id status functionID } }
    pageInfo { hasNextPage endCursor }
    totalCount
  }
}
"""


async def test_runs_are_listed_by_time_status_and_function_a_page_at_a_time(
    server: Harness, sdk_app: ScriptedApp
) -> None:
    since = server.iso_ms(server.now_ms() - 60_000)
    done = [await start(server, sdk_app, f"ok{i}", [sdk_app.ok(i)], retries=0) for i in range(3)]
    failed = await start(server, sdk_app, "bad", [sdk_app.fn_error("no", no_retry=True)], retries=0)
    for run_id in (*done, failed):
        await server.wait_run(run_id)

    async def page(**variables: Any) -> dict[str, Any]:
        variables = {"first": 100, "dir": "DESC", **variables}
        body = await gql(server, RUNS, **variables)
        assert "errors" not in body, body
        runs: dict[str, Any] = body["data"]["runs"]
        return runs

    everything = await page(filter={"from": since})
    assert [e["node"]["id"] for e in everything["edges"]] == [failed, *reversed(done)]
    assert everything["totalCount"] == 4 and not everything["pageInfo"]["hasNextPage"]

    only_failed = await page(filter={"from": since, "status": ["FAILED"]})
    assert [(e["node"]["id"], e["node"]["status"]) for e in only_failed["edges"]] == [
        (failed, "FAILED")
    ]
    one_function = await page(filter={"from": since, "functionIDs": ["gql-ok1"]})
    assert [e["node"]["functionID"] for e in one_function["edges"]] == ["gql-ok1"]
    # Each `start` synced app "gql" anew, with its one function: now only gql-bad.
    by_app = await page(filter={"from": since, "appIDs": ["gql"]})
    assert [e["node"]["functionID"] for e in by_app["edges"]] == ["gql-bad"]
    later = await page(filter={"from": server.iso_ms(server.now_ms() + 60_000)})
    assert (later["edges"], later["totalCount"]) == ([], 0)
    earlier = await page(filter={"from": since, "until": since})
    assert (earlier["edges"], earlier["totalCount"]) == ([], 0)

    # Oldest first, two at a time: the cursor goes on where the last page ended.
    first = await page(filter={"from": since}, first=2, dir="ASC")
    assert [e["node"]["id"] for e in first["edges"]] == done[:2]
    assert first["pageInfo"] == {"hasNextPage": True, "endCursor": done[1]}
    rest = await page(filter={"from": since}, first=2, dir="ASC", after=done[1])
    assert [e["node"]["id"] for e in rest["edges"]] == [done[2], failed]
    assert rest["pageInfo"]["hasNextPage"] is False

    for variables, reason in [
        ({"filter": {"from": since}, "first": 0}, "first must be from 1 to 1000"),
        ({"filter": {"from": "yesterday"}}, "filter.from"),
        ({"filter": {"from": since, "query": "event.data.x == 1"}}, "needs their functions"),
        (
            {"filter": {"from": since, "functionIDs": ["gql-bad"], "query": "event.data.("}},
            "expression",
        ),
    ]:
        body = await gql(server, RUNS, **{"first": 100, "dir": "DESC", **variables})
        assert reason in body["errors"][0]["message"], body


async def test_runs_are_searched_with_cel_over_their_trigger_and_output_a_page_at_a_time(
    server: Harness, sdk_app: ScriptedApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "SCAN_BUDGET", 4)
    since = server.iso_ms(server.now_ms() - 60_000)
    function = sdk_app.function("gql", "find", [{"event": "gql/find"}])
    sdk_app.script("gql-find", lambda call: sdk_app.ok({"n": call.body["event"]["data"]["n"]}))
    await sdk_app.register(server, "gql", [function])
    runs = {}
    for n in range(6):
        [event_id] = await server.send({"name": "gql/find", "data": {"n": n}})
        [run] = await server.wait_event_runs(event_id, 1)
        runs[n] = run["run_id"]
    query = "event.data.n == 0 || output.n == 5"

    async def page(after: str | None) -> dict[str, Any]:
        filter = {"from": since, "functionIDs": ["gql-find"], "query": query}
        body = await gql(server, RUNS, filter=filter, first=10, dir="DESC", after=after)
        assert "errors" not in body, body
        found: dict[str, Any] = body["data"]["runs"]
        return found

    # Newest first, four runs read per search: 5 (a match), 4, 3, 2; then 1, 0 (a match).
    first = await page(None)
    assert [e["node"]["id"] for e in first["edges"]] == [runs[5]]
    assert first["pageInfo"] == {"hasNextPage": True, "endCursor": runs[2]}
    rest = await page(first["pageInfo"]["endCursor"])
    assert [e["node"]["id"] for e in rest["edges"]] == [runs[0]]
    assert rest["pageInfo"]["hasNextPage"] is False


EVENTS_V2 = """
query Events($filter: EventsFilter!, $first: Int!, $after: String) {
  eventsV2(filter: $filter, first: $first, after: $after) {
    edges { cursor node { id name raw idempotencyKey receivedAt runs { id } } }
    pageInfo { hasNextPage endCursor }
    totalCount
  }
}
"""


async def test_events_v2_pages_events_by_name_and_searches_them_with_cel(
    server: Harness, sdk_app: ScriptedApp
) -> None:
    since = server.iso_ms(server.now_ms() - 60_000)
    function = sdk_app.function("gql", "ev", [{"event": "gql/ev"}])
    sdk_app.script("gql-ev", lambda call: sdk_app.ok(1))
    await sdk_app.register(server, "gql", [function])
    ids = await server.send([{"name": "gql/ev", "data": {"n": n}} for n in range(5)])
    await server.send({"name": "gql/other", "id": "mine", "data": {"n": 9}})
    for event_id in ids:
        await server.wait_event_runs(event_id, 1)

    async def page(**variables: Any) -> dict[str, Any]:
        body = await gql(server, EVENTS_V2, **{"first": 2, **variables})
        assert "errors" not in body, body
        events: dict[str, Any] = body["data"]["eventsV2"]
        return events

    base = {"from": since, "eventNames": ["gql/ev"], "includeInternalEvents": False}
    first = await page(filter=base)
    assert [e["node"]["id"] for e in first["edges"]] == [ids[4], ids[3]]
    assert first["totalCount"] == 5 and first["pageInfo"]["hasNextPage"] is True
    assert len(first["edges"][0]["node"]["runs"]) == 1
    rest = await page(filter=base, first=10, after=first["pageInfo"]["endCursor"])
    assert [e["node"]["id"] for e in rest["edges"]] == [ids[2], ids[1], ids[0]]
    everything = await page(filter={**base, "eventNames": None}, first=100)
    names = {e["node"]["name"] for e in everything["edges"]}
    assert names == {"gql/ev", "gql/other"}  # internal events (function.finished) left out
    [other] = [e["node"] for e in everything["edges"] if e["node"]["name"] == "gql/other"]
    assert other["idempotencyKey"] == "mine" and orjson.loads(other["raw"])["data"] == {"n": 9}
    with_internal = await page(
        filter={**base, "eventNames": None, "includeInternalEvents": True}, first=100
    )
    assert "inngest/function.finished" in {e["node"]["name"] for e in with_internal["edges"]}

    found = await page(filter={**base, "query": "event.data.n % 2 == 1"}, first=10)
    assert [e["node"]["id"] for e in found["edges"]] == [ids[3], ids[1]]
    assert found["pageInfo"]["hasNextPage"] is False
    refused = await gql(
        server, EVENTS_V2, first=10, filter={**base, "eventNames": None, "query": "true"}
    )
    assert "event name" in refused["errors"][0]["message"]
