"""The Runs page's filters through the real server on both databases: by app, by end time,
and a CEL search over the trigger and the output; and GraphQL's ``timeField: ENDED_AT``."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conftest import Harness, Received, Reply, ScriptedApp


async def ended_runs(dashboard_server: Harness, sdk_app: ScriptedApp) -> dict[str, list[str]]:
    """Runs of three functions in two apps, each ended; their ids by function."""
    alpha = [sdk_app.function("alpha", name, [{"event": "shop/order"}]) for name in ("a", "b")]
    beta = [sdk_app.function("beta", "c", [{"event": "shop/order"}], url=sdk_app.url + "?b=1")]

    def reply(call: Received) -> Reply:
        return sdk_app.ok({"charged": call.body["event"]["data"]["amount"] * 2})

    for function in (*alpha, *beta):
        sdk_app.script(function["id"], reply)
    await sdk_app.register(dashboard_server, "alpha", alpha)
    await sdk_app.register(dashboard_server, "beta", beta, url=sdk_app.url + "?b=1")
    ids = await dashboard_server.send(
        [
            {"name": "shop/order", "data": {"plan": plan, "amount": n}}
            for n, plan in enumerate(["pro", "free", "pro"], start=1)
        ]
    )
    by_function: dict[str, list[str]] = {}
    for event_id in ids:
        for run in await dashboard_server.event_runs(event_id):
            await dashboard_server.wait_run(run["run_id"])
            by_function.setdefault(run["function_id"], []).append(run["run_id"])
    return by_function


def listed(page: Any) -> set[str]:
    assert page.status_code == 200, page.text
    return set(re.findall(r'<tr data-run="([0-9A-Z]{26})"', page.text))


async def test_runs_filtered_by_app_by_end_time_and_searched(
    dashboard_server: Harness, sdk_app: ScriptedApp
) -> None:
    runs = await ended_runs(dashboard_server, sdk_app)
    alpha = set(runs["alpha-a"] + runs["alpha-b"])
    get = dashboard_server.client.get

    assert listed(await get("/runs", params={"app": "alpha"})) == alpha
    assert listed(await get("/runs", params={"app": "beta"})) == set(runs["beta-c"])
    assert listed(await get("/runs", params={"app": "alpha", "function": "alpha-b"})) == set(
        runs["alpha-b"]
    )

    # By end: every run ended just now; none before 2000.
    assert listed(await get("/runs", params={"time": "ended", "from": "2000-01-01T00:00"})) == {
        r for ids in runs.values() for r in ids
    }
    assert (
        listed(await get("/runs", params={"time": "ended", "until": "2000-01-01T00:00"})) == set()
    )

    # A search over the trigger and the output, within an app.
    pro = await get("/runs", params={"app": "alpha", "if": 'event.data.plan == "pro"'})
    assert listed(pro) == {
        runs["alpha-a"][0],
        runs["alpha-a"][2],
        runs["alpha-b"][0],
        runs["alpha-b"][2],
    }
    assert "read)" in pro.text
    big = await get("/runs", params={"function": "alpha-a", "if": "output.charged >= 4"})
    assert listed(big) == set(runs["alpha-a"][1:])


async def test_graphql_lists_runs_by_end_time(
    dashboard_server: Harness, sdk_app: ScriptedApp
) -> None:
    runs = await ended_runs(dashboard_server, sdk_app)
    query = """query($from: Time!, $until: Time) {
      runs(first: 40, orderBy: [{field: QUEUED_AT, direction: DESC}],
           filter: {from: $from, until: $until, timeField: ENDED_AT}) { edges { node { id } } }
    }"""
    every = {r for ids in runs.values() for r in ids}

    async def ids(**variables: Any) -> set[str]:
        resp = await dashboard_server.client.post(
            "/v0/gql", json={"query": query, "variables": variables}
        )
        assert resp.status_code == 200 and "errors" not in resp.json(), resp.text
        return {e["node"]["id"] for e in resp.json()["data"]["runs"]["edges"]}

    assert await ids(**{"from": "2000-01-01T00:00:00Z"}) == every
    assert await ids(**{"from": "2000-01-01T00:00:00Z", "until": "2000-01-02T00:00:00Z"}) == set()
