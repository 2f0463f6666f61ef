"""Bulk cancellations (``/v1/cancellations``) through the server, on both databases."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from surge.engine import lifecycle

if TYPE_CHECKING:
    from conftest import Harness, ScriptedApp

FAR = "2099-01-01T00:00:00.000Z"
PAST = "2000-01-01T00:00:00.000Z"


async def sleepers(server: Harness, sdk_app: ScriptedApp, datas: list[dict[str, Any]]) -> list[str]:
    """Runs of `bulk-nap` that sleep for an hour once started; their ids, in start order."""
    function = sdk_app.function("bulk", "nap", [{"event": "bulk/nap"}])
    nap = sdk_app.op("Sleep", "nap", name="1h")
    sdk_app.script(function["id"], lambda call: sdk_app.ops(nap))
    await sdk_app.register(server, "bulk", [function])
    ids = await server.send([{"name": "bulk/nap", "data": data} for data in datas])
    await sdk_app.wait_calls(function["id"], len(datas))
    return [(await server.event_runs(event_id))[0]["run_id"] for event_id in ids]


async def test_a_cancellation_cancels_the_matching_runs_in_its_range_and_counts_them(
    any_db: Harness, sdk_app: ScriptedApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lifecycle, "CANCEL_BATCH", 10)
    n = 25  # its job goes through them in three batches
    run_ids = await sleepers(any_db, sdk_app, [{"user": "a" if i % 3 else "b"} for i in range(n)])

    resp = await any_db.client.post(
        "/v1/cancellations",
        json={
            "app_id": "bulk",
            "function_id": "nap",
            "started_after": PAST,
            "started_before": FAR,
            "if": "event.data.user == 'a'",
        },
    )

    assert resp.status_code == 200, resp.text
    created = resp.json()["data"]
    assert (created["function_id"], created["if"]) == ("bulk-nap", "event.data.user == 'a'")

    async def finished() -> dict[str, Any] | None:
        [listed] = await any_db.get_data("/v1/cancellations")
        return listed if listed["done"] else None

    listed = await any_db.wait_for(finished, what="the cancellation's job to finish")
    expected = [run_id for i, run_id in enumerate(run_ids) if i % 3]
    assert listed["id"] == created["id"] and listed["cancelled_count"] == len(expected)
    statuses = {run_id: (await any_db.run(run_id))["status"] for run_id in run_ids}
    assert {r for r, s in statuses.items() if s == "Cancelled"} == set(expected)
    assert {s for r, s in statuses.items() if r not in expected} == {"Running"}
    history = await any_db.history(expected[0])
    assert history[-1]["kind"] == "cancelled" and history[-1]["by"] == "cancellation"


async def test_runs_started_outside_the_range_are_left_alone(
    any_db: Harness, sdk_app: ScriptedApp
) -> None:
    [run_id] = await sleepers(any_db, sdk_app, [{}])

    resp = await any_db.client.post(
        "/v1/cancellations",
        json={
            "app_id": "bulk",
            "function_id": "bulk-nap",
            "started_after": PAST,
            "started_before": "2001-01-01T00:00:00Z",
        },
    )
    assert resp.status_code == 200, resp.text

    async def finished() -> dict[str, Any] | None:
        [listed] = await any_db.get_data("/v1/cancellations")
        return listed if listed["done"] else None

    assert (await any_db.wait_for(finished, what="the job"))["cancelled_count"] == 0
    assert (await any_db.run(run_id))["status"] == "Running"


async def test_a_deleted_cancellation_is_gone_and_its_runs_stay_cancelled(
    any_db: Harness, sdk_app: ScriptedApp
) -> None:
    [run_id] = await sleepers(any_db, sdk_app, [{}])
    body = {"app_id": "bulk", "function_id": "nap", "started_after": PAST, "started_before": FAR}
    created = (await any_db.client.post("/v1/cancellations", json=body)).json()["data"]
    await any_db.wait_run(run_id)

    resp = await any_db.client.delete(f"/v1/cancellations/{created['id']}")

    assert resp.status_code == 200, resp.text
    assert await any_db.get_data("/v1/cancellations") == []
    assert (await any_db.run(run_id))["status"] == "Cancelled"
    again = await any_db.client.delete(f"/v1/cancellations/{created['id']}")
    assert again.status_code == 404 and created["id"] in again.json()["error"]


async def test_bad_cancellations_are_refused_naming_the_problem(
    server: Harness, sdk_app: ScriptedApp
) -> None:
    await sleepers(server, sdk_app, [{}])
    good = {"app_id": "bulk", "function_id": "nap", "started_after": PAST, "started_before": FAR}
    cases: list[tuple[Any, str]] = [
        ({**good, "function_id": "nope"}, "nope"),
        ({**good, "app_id": "other"}, "other"),
        ({**good, "started_after": FAR, "started_before": PAST}, "started_after"),
        ({**good, "started_before": "yesterday"}, "started_before"),
        ({**good, "if": "event.data.x =="}, "event.data.x =="),
        ({**good, "colour": "red"}, "colour"),
        ([good], "object"),
    ]
    for body, named in cases:
        resp = await server.client.post("/v1/cancellations", json=body)
        assert resp.status_code == 400, (body, resp.text)
        assert named in resp.text, (body, resp.text)
    malformed = await server.client.post("/v1/cancellations", content=b"{nope")
    assert malformed.status_code == 400 and "JSON" in malformed.text
    assert await server.get_data("/v1/cancellations") == []


async def test_cancellations_are_listed_newest_first_a_page_at_a_time(
    any_db: Harness, sdk_app: ScriptedApp
) -> None:
    await sdk_app.register(any_db, "bulk", [sdk_app.function("bulk", "nap", [{"event": "b/nap"}])])
    body = {"app_id": "bulk", "function_id": "nap", "started_after": PAST, "started_before": FAR}
    for _ in range(3):
        resp = await any_db.client.post("/v1/cancellations", json=body)
        assert resp.status_code == 200, resp.text

    every = [c["id"] for c in await any_db.get_data("/v1/cancellations")]
    first = [c["id"] for c in await any_db.get_data("/v1/cancellations", limit=2)]
    cursor = first[-1]
    rest = [c["id"] for c in await any_db.get_data("/v1/cancellations", limit=2, cursor=cursor)]
    refused = await any_db.client.get("/v1/cancellations?limit=1001")

    assert len(every) == 3 and every == sorted(every, reverse=True)
    assert (first, rest) == (every[:2], every[2:])
    assert refused.status_code == 400 and "limit" in refused.text
