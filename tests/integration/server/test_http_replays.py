"""Bulk replays (``POST /v1/replays``): a preview, progress, reruns linked to their
originals and to the replay, each run replayed once, flow control as the issue says."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest

from surge.engine import replays

if TYPE_CHECKING:
    from conftest import Harness, Received, Reply, ScriptedApp

FAR = "2099-01-01T00:00:00.000Z"
PAST = "2000-01-01T00:00:00.000Z"


async def replay(server: Harness, **body: Any) -> dict[str, Any]:
    body = {"started_after": PAST, "started_before": FAR, **body}
    resp = await server.client.post("/v1/replays", json=body)
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()["data"]
    return data


async def finished(server: Harness, replay_id: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        data: dict[str, Any] = await server.get_data(f"/v1/replays/{replay_id}")
        return data if data["done"] and data["runs"]["running"] == 0 else None

    result: dict[str, Any] = await server.wait_for(check, what=f"replay {replay_id} to finish")
    return result


async def test_a_replay_reruns_the_failed_runs_once_each_linked_to_their_originals(
    any_db: Harness, sdk_app: ScriptedApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replays, "REPLAY_BATCH", 4)  # its job goes through them in 3 batches
    healthy = False

    def reply(call: Received) -> Reply:
        n = call.body["event"]["data"]["n"]
        if healthy or n % 4 == 0:
            return sdk_app.ok(n)
        return sdk_app.fn_error("downstream is down", no_retry=True)

    function = sdk_app.function("rp", "charge", [{"event": "rp/charge"}], retries=0)
    sdk_app.script("rp-charge", reply)
    await sdk_app.register(any_db, "rp", [function])
    ids = await any_db.send([{"name": "rp/charge", "data": {"n": n}} for n in range(12)])
    originals = {}
    for event_id in ids:
        [run] = await any_db.wait_event_runs(event_id, 1)
        originals[run["run_id"]] = run
    failed = {r for r, run in originals.items() if run["status"] == "Failed"}
    assert len(failed) == 9

    preview = await replay(any_db, function_id="rp-charge", statuses=["Failed"], preview=True)
    assert (preview["id"], preview["total"], preview["preview"]) == (None, 9, True)
    assert await any_db.get_data("/v1/replays") == []  # a preview stores nothing

    healthy = True  # the downstream service is back
    created = await replay(any_db, function_id="rp-charge", statuses=["Failed"])
    assert (created["total"], created["statuses"], created["requested_by"]) == (
        9,
        ["Failed"],
        "api",
    )
    done = await finished(any_db, created["id"])

    assert (done["started"], done["runs"]["completed"], done["runs"]["failed"]) == (9, 9, 0)
    reruns = {}
    for run_id in failed:
        [rerun] = await any_db.get_data("/v1/runs", original_run_id=run_id)
        assert rerun["status"] == "Completed"
        reruns[run_id] = rerun["run_id"]
        [said] = [h for h in await any_db.history(run_id) if h["kind"] == "rerun"]
        assert (said["run_id"], said["replay_id"], said["by"]) == (
            rerun["run_id"],
            created["id"],
            "api",
        )
    assert len(set(reruns.values())) == 9
    completed = set(originals) - failed
    for run_id in completed:
        assert await any_db.get_data("/v1/runs", original_run_id=run_id) == []
    [listed] = await any_db.get_data("/v1/replays")
    assert (listed["id"], listed["done"], listed["runs"]) == (created["id"], True, done["runs"])


async def test_runs_skipped_while_the_function_was_paused_are_replayed_after_resuming(
    any_db: Harness, sdk_app: ScriptedApp
) -> None:
    # A rate limit and an idempotency key would skip a second run of these events.
    function = sdk_app.function("rp", "sync", [{"event": "rp/sync"}])
    function.update(idempotency="event.data.n", rateLimit={"limit": 1, "period": "1h"})
    sdk_app.script("rp-sync", lambda call: sdk_app.ok(call.body["event"]["data"]["n"]))
    await sdk_app.register(any_db, "rp", [function])
    await any_db.client.post("/v1/functions/rp-sync/pause")
    ids = await any_db.send([{"name": "rp/sync", "data": {"n": n}} for n in range(3)])
    for event_id in ids:
        [run] = await any_db.wait_event_runs(event_id, 1)
        assert run["skip_reason"] == "paused"

    resp = await any_db.client.post(
        "/v1/replays",
        json={"function_id": "rp-sync", "started_after": PAST, "started_before": FAR},
    )
    assert resp.status_code == 409 and "paused" in resp.json()["error"], resp.text

    await any_db.client.post("/v1/functions/rp-sync/resume")
    created = await replay(any_db, function_id="rp-sync", statuses=["Skipped"])
    done = await finished(any_db, created["id"])

    assert (done["total"], done["runs"]["completed"]) == (3, 3)
    outputs = []
    for event_id in ids:
        runs = await any_db.get_data(f"/v1/events/{event_id}/runs")
        assert sorted(r["status"] for r in runs) == ["Completed", "Skipped"]
        outputs += [r["output"] for r in runs if r["status"] == "Completed"]
    assert sorted(outputs) == [0, 1, 2]


async def test_replayed_runs_obey_the_function_s_concurrency(
    server: Harness, sdk_app: ScriptedApp
) -> None:
    healthy = False
    running = 0
    most = 0

    async def reply(call: Received) -> Reply:
        nonlocal running, most
        if not healthy:
            return sdk_app.fn_error("down", no_retry=True)
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.05)
        running -= 1
        return sdk_app.ok()

    function = sdk_app.function("rp", "slow", [{"event": "rp/slow"}], retries=0)
    function["concurrency"] = [{"limit": 2}]
    sdk_app.script("rp-slow", reply)
    await sdk_app.register(server, "rp", [function])
    ids = await server.send([{"name": "rp/slow", "data": {}} for _ in range(8)])
    for event_id in ids:
        await server.wait_event_runs(event_id, 1)

    healthy = True
    done = await finished(server, (await replay(server, function_id="rp-slow"))["id"])

    assert (done["total"], done["runs"]["completed"]) == (8, 8)
    assert most == 2


async def test_bad_replays_are_refused_naming_the_problem(
    server: Harness, sdk_app: ScriptedApp
) -> None:
    function = sdk_app.function("rp", "x", [{"event": "rp/x"}])
    await sdk_app.register(server, "rp", [function])
    good = {"function_id": "rp-x", "started_after": PAST, "started_before": FAR}
    for body, status, words in [
        ({**good, "function_id": "rp-nope"}, 400, "rp-nope"),
        ({**good, "statuses": ["Running"]}, 400, "'Running' cannot be replayed"),
        ({**good, "statuses": []}, 400, "at least one status"),
        ({**good, "statuses": "Failed"}, 400, "statuses must be a list"),
        ({**good, "started_after": FAR, "started_before": PAST}, 400, "started_after"),
        ({**good, "started_after": "yesterday"}, 400, "RFC 3339"),
        ({**good, "preview": "yes"}, 400, "preview must be true or false"),
        ({**good, "extra": 1}, 400, "unknown field 'extra'"),
        ({"started_after": PAST}, 400, "function_id"),
    ]:
        resp = await server.client.post("/v1/replays", json=body)
        assert resp.status_code == status and words in resp.json()["error"], (body, resp.text)
    resp = await server.client.get("/v1/replays/01HZZZZZZZZZZZZZZZZZZZZZZZ")
    assert resp.status_code == 404
    empty = await replay(server, function_id="rp-x")
    assert (empty["total"], empty["done"]) == (0, True)  # nothing to replay: done at once


async def test_replays_are_listed_newest_first_a_page_at_a_time(
    any_db: Harness, sdk_app: ScriptedApp
) -> None:
    function = sdk_app.function("rp", "paged", [{"event": "rp/paged"}])
    await sdk_app.register(any_db, "rp", [function])
    for _ in range(3):
        await replay(any_db, function_id="rp-paged")

    every = [r["id"] for r in await any_db.get_data("/v1/replays")]
    first = [r["id"] for r in await any_db.get_data("/v1/replays", limit=2)]
    rest = [r["id"] for r in await any_db.get_data("/v1/replays", limit=2, cursor=first[-1])]
    refused = await any_db.client.get("/v1/replays?limit=0")

    assert len(every) == 3 and every == sorted(every, reverse=True)
    assert (first, rest) == (every[:2], every[2:])
    assert refused.status_code == 400 and "limit" in refused.text
