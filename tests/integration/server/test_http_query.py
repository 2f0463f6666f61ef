"""The query API: REST v1 events and runs, cancellation, and the v0 run endpoints (§5, §6)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from conftest import Harness, Received, Reply, ScriptedApp

S = "5" * 40
Z = "2" * 40


async def page_through(server: Harness, path: str, key: str, **params: Any) -> list[list[str]]:
    """Every page of `path`, following `cursor` = the last item's `key`; return the keys."""
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        data = await server.get_data(path, **query)
        pages.append([item[key] for item in data])
        if not data:
            return pages
        cursor = data[-1][key]
        assert len(pages) < 50, "paging does not end"


async def test_events_are_listed_newest_first_and_filtered_by_name(server: Harness) -> None:
    older = await server.send({"name": "q/a", "data": {"i": 0}})
    await asyncio.sleep(0.005)
    newer = await server.send([{"name": "q/b"}, {"name": "q/a", "data": {"i": 1}}])

    everything = await server.events()
    only_a = await server.events(name="q/a")

    assert {e["internal_id"] for e in everything} == {*older, *newer}
    assert [e["data"]["i"] for e in only_a] == [1, 0]
    assert everything[-1]["internal_id"] == older[0]
    assert {e["name"] for e in only_a} == {"q/a"}
    assert await server.events(name="q/none") == []


async def test_events_filtered_by_received_time(server: Harness) -> None:
    [first] = await server.send({"name": "t/first"})
    await asyncio.sleep(0.005)
    [second] = await server.send({"name": "t/second"})
    boundary = (await server.get_data(f"/v1/events/{second}"))["received_at"]

    after = await server.events(received_after=boundary)
    before = await server.events(received_before=boundary)

    assert [e["internal_id"] for e in after] == [second], "received_after is inclusive"
    assert [e["internal_id"] for e in before] == [first], "received_before is exclusive"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"received_after": "yesterday"}, "received_after"),
        ({"received_before": "2024-13-45"}, "received_before"),
    ],
)
async def test_invalid_event_query_is_refused(
    asgi_server: Harness, params: dict[str, str], field: str
) -> None:
    resp = await asgi_server.client.get("/v1/events", params=params)

    assert resp.status_code == 400
    assert field in resp.json()["error"]


async def test_event_paging_has_no_duplicates_and_no_gaps(server: Harness) -> None:
    ids = await server.send([{"name": "p/e", "data": {"i": i}} for i in range(5)])
    await asyncio.sleep(0.005)
    ids += await server.send([{"name": "p/e", "data": {"i": i}} for i in range(5, 10)])
    ids += await server.send({"name": "p/e", "data": {"i": 10}})

    full = [e["internal_id"] for e in await server.events(limit=100)]
    pages = await page_through(server, "/v1/events", "internal_id", limit=4)

    assert [len(p) for p in pages] == [4, 4, 3, 0]
    flat = [i for page in pages for i in page]
    assert flat == full
    assert sorted(flat) == sorted(ids)


async def test_unknown_ids_get_404_json(server: Harness) -> None:
    missing = "01HZZZZZZZZZZZZZZZZZZZZZZZ"
    paths = [
        ("GET", f"/v1/runs/{missing}"),
        ("GET", f"/v1/runs/{missing}/history"),
        ("DELETE", f"/v1/runs/{missing}"),
        ("DELETE", f"/v0/runs/{missing}"),
        ("GET", f"/v0/runs/{missing}/batch"),
        ("GET", f"/v0/runs/{missing}/actions"),
        ("GET", f"/v1/events/{missing}"),
        ("GET", f"/v1/events/{missing}/runs"),
    ]
    for method, path in paths:
        resp = await server.client.request(method, path)
        assert resp.status_code == 404, (method, path, resp.text)
        assert missing in resp.json()["error"], (method, path)


async def test_event_runs_and_run_filters(asgi_server: Harness, sdk_app: ScriptedApp) -> None:
    one = sdk_app.function("q", "one", [{"event": "q/go"}])
    two = sdk_app.function("q", "two", [{"event": "q/go"}])
    sdk_app.script("q-one", [sdk_app.ok(1)])
    sdk_app.script("q-two", [sdk_app.ok(2)])
    await sdk_app.register(asgi_server, "q", [one, two])

    [event_id] = await asgi_server.send({"name": "q/go"})
    runs = await asgi_server.wait_event_runs(event_id, 2)
    [second_event] = await asgi_server.send({"name": "q/go"})
    await asgi_server.wait_event_runs(second_event, 2)

    assert {(r["function_id"], r["output"]) for r in runs} == {("q-one", 1), ("q-two", 2)}
    assert all(r["event_id"] == event_id and r["event_ids"] == [event_id] for r in runs)
    assert all(r["status"] == "Completed" for r in runs)
    only_one = await asgi_server.get_data("/v1/runs", function_id="q-one")
    assert len(only_one) == 2
    assert {r["function_id"] for r in only_one} == {"q-one"}
    assert len(await asgi_server.get_data("/v1/runs")) == 4
    pages = await page_through(asgi_server, "/v1/runs", "run_id", limit=3)
    assert [len(p) for p in pages] == [3, 1, 0]
    assert len({i for p in pages for i in p}) == 4


async def test_cancel_a_sleeping_run(server: Harness, sdk_app: ScriptedApp) -> None:
    sleep = sdk_app.op("Sleep", Z, name="1h")
    function = sdk_app.function("q", "sleeper", [{"event": "q/sleep"}])
    sdk_app.script("q-sleeper", [sdk_app.ops(sleep), sdk_app.ok("woke")])
    await sdk_app.register(server, "q", [function])
    [event_id] = await server.send({"name": "q/sleep"})
    [run] = await server.event_runs(event_id)
    run_id = run["run_id"]

    async def sleeping() -> bool:
        return any(h["kind"] == "sleeping" for h in await server.history(run_id))

    await server.wait_for(sleeping, what="the run to sleep")
    resp = await server.client.delete(f"/v1/runs/{run_id}")

    assert resp.status_code == 200
    assert resp.json()["data"]["status"] == "Cancelled"
    assert (await server.run(run_id))["status"] == "Cancelled"
    left = [item for item in await server.lease_all() if item.run_id == run_id]
    assert left == [], "a cancelled run keeps no work that could call the app"
    assert len(sdk_app.calls("q-sleeper")) == 1
    [cancelled] = await server.events(name="inngest/function.cancelled")
    assert cancelled["data"]["run_id"] == run_id
    again = await server.client.delete(f"/v0/runs/{run_id}")
    assert again.status_code == 200
    assert again.json()["data"]["status"] == "Cancelled"
    assert len(await server.events(name="inngest/function.cancelled")) == 1


async def test_cancel_a_finished_run_changes_nothing(
    asgi_server: Harness, sdk_app: ScriptedApp
) -> None:
    function = sdk_app.function("q", "quick", [{"event": "q/quick"}])
    sdk_app.script("q-quick", [sdk_app.ok("done")])
    await sdk_app.register(asgi_server, "q", [function])
    [event_id] = await asgi_server.send({"name": "q/quick"})
    [run] = await asgi_server.wait_event_runs(event_id, 1)

    resp = await asgi_server.client.delete(f"/v0/runs/{run['run_id']}")

    assert resp.status_code == 200
    assert resp.json()["data"]["status"] == "Completed"
    assert (await asgi_server.run(run["run_id"]))["output"] == "done"
    assert await asgi_server.events(name="inngest/function.cancelled") == []


async def test_v0_batch_and_actions_return_events_and_memos(
    asgi_server: Harness, sdk_app: ScriptedApp
) -> None:
    function = sdk_app.function("q", "memo", [{"event": "q/memo"}])
    replies = [
        sdk_app.ops(sdk_app.step_run(S, {"n": 1})),
        sdk_app.ops(sdk_app.op("Sleep", Z, name="1h")),
    ]
    sdk_app.script("q-memo", replies)
    await sdk_app.register(asgi_server, "q", [function])
    [event_id] = await asgi_server.send({"name": "q/memo", "data": {"k": "v"}})
    [run] = await asgi_server.event_runs(event_id)
    run_id = run["run_id"]
    await sdk_app.wait_calls("q-memo", 2)

    batch = (await asgi_server.client.get(f"/v0/runs/{run_id}/batch")).json()
    actions = (await asgi_server.client.get(f"/v0/runs/{run_id}/actions")).json()

    assert [(e["name"], e["id"], e["data"]) for e in batch] == [("q/memo", event_id, {"k": "v"})]
    assert actions == {S: {"data": {"n": 1}}}
    await asgi_server.client.delete(f"/v1/runs/{run_id}")


async def test_events_sent_from_a_step_link_child_runs_to_their_parent(
    socket_server: Harness, sdk_app: ScriptedApp
) -> None:
    """The app calls back into the server over a real socket, as `step.sendEvent` does."""
    base_url = str(socket_server.client.base_url)

    async def parent(call: Received) -> Reply:
        if S in call.body["steps"]:
            return sdk_app.ok(call.body["steps"][S])
        async with httpx.AsyncClient(base_url=base_url) as client:
            resp = await client.post("/e/app-key", json=[{"name": "q/child"}])
        return sdk_app.ops(sdk_app.step_run(S, resp.json()["ids"]))

    functions = [
        sdk_app.function("q", "parent", [{"event": "q/parent"}]),
        sdk_app.function("q", "child", [{"event": "q/child"}]),
    ]
    sdk_app.script("q-parent", parent)
    sdk_app.script("q-child", [sdk_app.ok("child done")])
    await sdk_app.register(socket_server, "q", functions)

    [event_id] = await socket_server.send({"name": "q/parent"})
    [parent_run] = await socket_server.wait_event_runs(event_id, 1)
    [child_event] = parent_run["output"]["data"]
    [child_run] = await socket_server.wait_event_runs(child_event, 1)

    assert child_run["function_id"] == "q-child"
    assert (await socket_server.get_data(f"/v1/events/{child_event}"))["source_run_id"] == (
        parent_run["run_id"]
    )
    children = await socket_server.get_data("/v1/runs", parent_run_id=parent_run["run_id"])
    assert [r["run_id"] for r in children] == [child_run["run_id"]]
    assert children[0]["parent_run_id"] == parent_run["run_id"]
    assert await socket_server.get_data("/v1/runs", parent_run_id=child_run["run_id"]) == []
    sent = await socket_server.get_data("/v1/events", source_run_id=parent_run["run_id"])
    assert [e["internal_id"] for e in sent] == [child_event]

    # The same tree, both ways, through GraphQL.
    lineage = """query($id: String!) { run(runID: $id) {
      parentRunID sentEvents { id name } childRuns { id parentRunID childRuns { id } } } }"""
    down = await socket_server.client.post(
        "/v0/gql", json={"query": lineage, "variables": {"id": parent_run["run_id"]}}
    )
    assert down.json()["data"]["run"] == {
        "parentRunID": None,
        "sentEvents": [{"id": child_event, "name": "q/child"}],
        "childRuns": [
            {"id": child_run["run_id"], "parentRunID": parent_run["run_id"], "childRuns": []}
        ],
    }


async def test_large_run_state_is_fetched_by_the_app_through_the_v0_api(
    socket_server: Harness, sdk_app: ScriptedApp
) -> None:
    """Over 4 MiB of memos: the request says `use_api` and the app reads the state back."""
    base_url = str(socket_server.client.base_url)
    blob = "x" * (2_500_000)
    a, b = "a" * 40, "b" * 40

    async def reply(call: Received) -> Reply:
        if not call.body["use_api"]:
            done = call.body["steps"]
            step = a if a not in done else b
            return sdk_app.ops(sdk_app.step_run(step, blob))
        run_id = call.ctx["run_id"]
        async with httpx.AsyncClient(base_url=base_url) as client:
            actions = (await client.get(f"/v0/runs/{run_id}/actions")).json()
            batch = (await client.get(f"/v0/runs/{run_id}/batch")).json()
        return sdk_app.ok(
            {
                "steps": {k: len(v["data"]) for k, v in actions.items()},
                "events": [e["name"] for e in batch],
            }
        )

    function = sdk_app.function("q", "big", [{"event": "q/big"}])
    sdk_app.script("q-big", reply)
    await sdk_app.register(socket_server, "q", [function])
    [event_id] = await socket_server.send({"name": "q/big", "data": {"k": 1}})
    [run] = await socket_server.wait_event_runs(event_id, 1)

    assert run["status"] == "Completed", run
    assert run["output"] == {"steps": {a: len(blob), b: len(blob)}, "events": ["q/big"]}
    last = sdk_app.calls("q-big")[-1]
    assert last.body["use_api"] is True
    assert last.ctx["use_api"] is True
    assert (last.body["steps"], last.body["events"]) == ({}, [])
    assert last.body["event"]["data"] == {"k": 1}, "the first event is always sent in full"
    assert last.sdk_parse_error is None
