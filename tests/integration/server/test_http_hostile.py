"""Input a careless or hostile client sends: refused with a 4xx naming the problem, or
accepted and readable back on every path, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import orjson
import pytest

from surge.core.limits import MAX_ID_LENGTH, MAX_NESTING
from surge.engine.bodies import APART_BYTES, INLINE_BYTES

if TYPE_CHECKING:
    from conftest import Harness, ScriptedApp


def nested(depth: int) -> Any:
    """An array holding an array ... `depth` levels deep."""
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


async def refused(server: Harness, event: Any) -> dict[str, Any]:
    resp = await server.client.post("/e/test-key", json=event)
    assert resp.status_code == 400, resp.text
    body: dict[str, Any] = resp.json()
    assert body["status"] == 400
    return body


@pytest.mark.parametrize("depth", [250, 260, 600])
async def test_an_event_nested_too_deeply_is_refused_and_listing_keeps_working(
    any_db: Harness, depth: int
) -> None:
    [plain] = await any_db.send({"name": "shop/ok"})

    raw = b'{"name": "shop/deep", "data": {"x": ' + b"[" * depth + b"]" * depth + b"}}"
    resp = await any_db.client.post("/e/test-key", content=raw)
    assert resp.status_code == 400, resp.text
    body = resp.json()

    assert f"nest too deeply (the limit is {MAX_NESTING} levels" in body["error"]
    assert [e["internal_id"] for e in await any_db.events()] == [plain]
    assert (await any_db.client.get(f"/v1/events/{plain}")).status_code == 200


async def test_the_deepest_accepted_event_is_served_back_on_every_path(
    any_db: Harness, sdk_app: ScriptedApp
) -> None:
    # The event is level 1 and `data` level 2.
    data = {"x": nested(MAX_NESTING - 2)}
    function = sdk_app.function("deep", "echo", [{"event": "shop/deep"}])
    sdk_app.script(function["id"], [sdk_app.ok(data)])
    await sdk_app.register(any_db, "deep", [function])

    [event_id] = await any_db.send({"name": "shop/deep", "data": data})
    [run] = await any_db.wait_event_runs(event_id, 1)
    run = await any_db.wait_run(run["run_id"])

    assert run["status"] == "Completed"
    assert run["output"] == data
    assert (await any_db.get_data(f"/v1/events/{event_id}"))["data"] == data
    listed = {e["name"]: e["data"] for e in await any_db.events()}
    assert listed["shop/deep"] == data
    # The run's finished event wraps the event and the output a few levels deeper still.
    assert listed["inngest/function.finished"]["result"] == data
    assert listed["inngest/function.finished"]["event"]["data"] == data
    [call] = sdk_app.calls(function["id"])
    assert call.body["event"]["data"] == data


@pytest.mark.parametrize(
    ("event", "field", "problem"),
    [
        ({"name": "shop/\x00"}, "name", "event name must not contain a NUL character"),
        ({"name": "shop/a", "id": "a\x00"}, "id", "event id must not contain a NUL character"),
        ({"name": "shop/a", "v": "\x00"}, "v", "event version must not contain a NUL character"),
        (
            {"name": "shop/a", "id": "i" * (MAX_ID_LENGTH + 1)},
            "id",
            f"event id is too long: {MAX_ID_LENGTH + 1} characters",
        ),
    ],
)
async def test_identifiers_a_database_cannot_store_are_refused_and_nothing_is_stored(
    any_db: Harness, event: dict[str, Any], field: str, problem: str
) -> None:
    body = await refused(any_db, [{"name": "shop/fine"}, event])

    assert body["field"] == f"events[1].{field}"
    assert problem in body["error"]
    assert await any_db.events() == []


async def test_nul_and_odd_unicode_inside_data_are_kept(any_db: Harness) -> None:
    data = {"nul": "a\x00b", "emoji": "🙂", "rtl": "\u202e", "bom": "\ufeff", "\x00key": 1}

    [event_id] = await any_db.send({"name": "shop/odd", "data": data, "user": {"n": "\x00"}})

    stored = await any_db.get_data(f"/v1/events/{event_id}")
    assert (stored["data"], stored["user"]) == (data, {"n": "\x00"})


@pytest.mark.parametrize("path", ["/v1/events", "/v1/runs"])
@pytest.mark.parametrize("limit", ["²", "٣", "1e3", "-1", "0", "1001", ""])
async def test_a_limit_that_is_not_a_plain_number_in_range_is_a_400(
    any_db: Harness, path: str, limit: str
) -> None:
    resp = await any_db.client.get(path, params={"limit": limit})

    assert resp.status_code == 400, resp.text
    assert resp.json()["field"] == "limit"


async def test_a_condition_on_a_large_event_is_decided_apart_and_still_starts_runs(
    any_db: Harness, sdk_app: ScriptedApp
) -> None:
    function = sdk_app.function(
        "big", "seven", [{"event": "shop/big", "expression": "event.data.items.exists(i, i == 7)"}]
    )
    sdk_app.script(function["id"], [sdk_app.ok("ok")])
    await sdk_app.register(any_db, "big", [function])
    items = list(range(30_000))  # about 170 KB: decided in the worker process

    [with_seven, without] = await any_db.send(
        [
            {"name": "shop/big", "data": {"items": items}},
            {"name": "shop/big", "data": {"items": [i for i in items if i != 7]}},
        ]
    )

    [run] = await any_db.wait_event_runs(with_seven, 1)
    assert run["function_id"] == function["id"]
    assert await any_db.event_runs(without) == []


@pytest.mark.parametrize("count, size", [(4, 100_000), (10, 450_000)], ids=["thread", "child"])
async def test_a_large_body_is_checked_and_stored_like_a_small_one(
    any_db: Harness, count: int, size: int
) -> None:
    # Over `INLINE_BYTES` a body is decoded in a thread; over `APART_BYTES`, in a child
    # process. The same checks, the same ids, either way.
    blob = "x" * size
    events = [{"name": "big/part", "data": {"n": n, "blob": blob}} for n in range(count)]
    assert len(orjson.dumps(events)) > (INLINE_BYTES if count == 4 else APART_BYTES)
    entropy = base64.b64encode(bytes(range(10))).decode()
    seed = {"X-Inngest-Event-Id-Seed": f"{any_db.now_ms()},{entropy}"}
    broken = [*events[:2], {"name": "", "data": {}}, *events[2:]]

    refused = await any_db.client.post("/e/test-key", json=broken)
    first = await any_db.send(events, headers=seed)
    retried = await any_db.send(events, headers=seed)

    assert refused.status_code == 400, refused.text
    assert refused.json()["field"] == "events[2].name"
    assert first == retried
    stored = await any_db.events(name="big/part")
    assert sorted(e["internal_id"] for e in stored) == sorted(first)
    served = await any_db.get_data(f"/v1/events/{first[3]}")
    assert served["data"] == {"n": 3, "blob": blob}


async def test_a_condition_on_a_large_run_result_is_decided_apart_and_starts_runs(
    any_db: Harness, sdk_app: ScriptedApp
) -> None:
    # A run's `inngest/function.finished` event carries its result: a costly condition over
    # it runs in the child process, as one over a sent event does.
    producer = sdk_app.function("big", "producer", [{"event": "shop/produce"}])
    watcher = sdk_app.function(
        "big",
        "watcher",
        [
            {
                "event": "inngest/function.finished",
                "expression": "event.data.result.items.exists(i, i == 7)",
            }
        ],
    )
    sdk_app.script(producer["id"], [sdk_app.ok({"items": list(range(30_000))})])
    sdk_app.script(watcher["id"], [sdk_app.ok("seen")])
    await sdk_app.register(any_db, "big", [producer, watcher])

    [event_id] = await any_db.send({"name": "shop/produce"})

    [produced] = await any_db.wait_event_runs(event_id, 1)
    assert produced["status"] == "Completed"
    [call] = await sdk_app.wait_calls(watcher["id"], 1)
    assert call.body["event"]["data"]["run_id"] == produced["run_id"]
