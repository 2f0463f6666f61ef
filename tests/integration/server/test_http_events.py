"""`POST /e/{key}`: accepting, deduplicating and refusing events (`docs/protocol.md`, "Events")."""

from __future__ import annotations

import base64
import re
from typing import TYPE_CHECKING, Any

import pytest
from ulid import ULID as ULIDValue

if TYPE_CHECKING:
    from conftest import Harness, ScriptedApp

ULID = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")


async def register_listener(server: Harness, sdk_app: ScriptedApp, *names: str) -> list[str]:
    """Register one function per event name, each completing at once; return their slugs."""
    functions = [sdk_app.function("ev", f"on-{i}", [{"event": n}]) for i, n in enumerate(names)]
    for function in functions:
        sdk_app.script(function["id"], [sdk_app.ok("done")])
    await sdk_app.register(server, "ev", functions)
    return [f["id"] for f in functions]


async def test_single_event_is_stored_and_gets_a_ulid(server: Harness) -> None:
    resp = await server.client.post(
        "/e/test-key", json={"name": "shop/order.placed", "data": {"order": 7}}
    )

    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == 200
    [event_id] = body["ids"]
    assert ULID.match(event_id), event_id
    stored = await server.get_data(f"/v1/events/{event_id}")
    assert stored["internal_id"] == event_id
    assert stored["id"] == event_id, "an event without an id gets its internal id"
    assert stored["name"] == "shop/order.placed"
    assert stored["data"] == {"order": 7}
    assert stored["user"] == {}
    assert isinstance(stored["ts"], int)


async def test_array_of_events_gets_one_id_each_in_order(server: Harness) -> None:
    events = [{"name": f"shop/item.{i}", "data": {"i": i}} for i in range(3)]

    ids = await server.send(events)

    assert len(ids) == 3
    assert len(set(ids)) == 3
    assert all(ULID.match(i) for i in ids)
    for i, event_id in enumerate(ids):
        stored = await server.get_data(f"/v1/events/{event_id}")
        assert stored["name"] == f"shop/item.{i}"
        assert stored["data"] == {"i": i}


async def test_data_inngest_key_is_dropped_on_ingest(server: Harness) -> None:
    [event_id] = await server.send({"name": "a/b", "data": {"x": 1, "_inngest": {"fn_id": "x"}}})

    assert (await server.get_data(f"/v1/events/{event_id}"))["data"] == {"x": 1}


async def test_seeded_send_twice_returns_same_ids_and_stores_once(
    server: Harness, sdk_app: ScriptedApp
) -> None:
    [slug] = await register_listener(server, sdk_app, "seed/evt")
    entropy = base64.b64encode(bytes(range(10))).decode()
    seed_ms = server.now_ms()
    headers = {"X-Inngest-Event-Id-Seed": f"{seed_ms},{entropy}"}
    events = [{"name": "seed/evt", "data": {"n": 1}}, {"name": "seed/other"}]

    first = await server.send(events, headers=headers)
    second = await server.send(events, headers=headers)

    assert first == second
    assert len(set(first)) == 2
    assert all(ULID.match(i) for i in first)
    assert all(ULIDValue.from_str(i).milliseconds == seed_ms for i in first)
    stored = await server.events(name="seed/evt")
    assert [e["internal_id"] for e in stored] == [first[0]]
    runs = await server.wait_event_runs(first[0], 1)
    assert [r["function_id"] for r in runs] == [slug]
    assert len(sdk_app.calls(slug)) == 1


async def test_malformed_seed_header_is_refused(server: Harness) -> None:
    resp = await server.client.post(
        "/e/test-key",
        json={"name": "seed/evt"},
        headers={"X-Inngest-Event-Id-Seed": "not-a-seed"},
    )

    assert resp.status_code == 400
    assert "X-Inngest-Event-Id-Seed" in resp.json()["error"]
    assert await server.events() == []


async def test_user_id_sent_twice_is_stored_once_and_runs_once(
    server: Harness, sdk_app: ScriptedApp
) -> None:
    [slug] = await register_listener(server, sdk_app, "dedupe/evt")
    event = {"name": "dedupe/evt", "id": "order-42", "data": {}}

    first = await server.send(event)
    second = await server.send(event)

    assert first == second
    stored = await server.events(name="dedupe/evt")
    assert [(e["internal_id"], e["id"]) for e in stored] == [(first[0], "order-42")]
    await server.wait_event_runs(first[0], 1)
    runs = await server.get_data("/v1/runs", function_id=slug)
    assert len(runs) == 1


async def test_same_user_id_twice_in_one_batch_is_stored_once(server: Harness) -> None:
    ids = await server.send([{"name": "dup/evt", "id": "same"}, {"name": "dup/evt", "id": "same"}])

    assert ids[0] == ids[1]
    assert len(await server.events(name="dup/evt")) == 1


async def test_event_key_must_not_be_empty(server: Harness) -> None:
    resp = await server.client.post("/e/", json={"name": "a/b"})

    assert resp.status_code in (401, 404)
    assert "error" in resp.json()
    assert await server.events() == []


BAD_EVENTS: list[tuple[str, Any, str, str]] = [
    ("missing name", {"data": {}}, "name", "required"),
    ("empty name", {"name": ""}, "name", "empty"),
    ("non-string name", {"name": 5}, "name", "string"),
    ("256-char name", {"name": "x" * 256}, "name", "too long"),
    ("reserved name", {"name": "inngest/function.failed"}, "name", "reserved"),
    ("reserved name, any case", {"name": "Inngest/Custom"}, "name", "reserved"),
    ("data is an array", {"name": "a/b", "data": [1]}, "data", "object"),
    ("data is a string", {"name": "a/b", "data": "x"}, "data", "object"),
    ("ts before 1980", {"name": "a/b", "ts": 1000}, "ts", "out of range"),
    ("ts after 2100", {"name": "a/b", "ts": 4_200_000_000_000}, "ts", "out of range"),
    ("ts not a number", {"name": "a/b", "ts": "yesterday"}, "ts", "integer"),
    ("user not an object", {"name": "a/b", "user": 3}, "user", "object"),
    ("event not an object", ["a/b"], "events[0]", "object"),
]


@pytest.mark.parametrize(
    ("payload", "field", "problem"),
    [case[1:] for case in BAD_EVENTS],
    ids=[case[0] for case in BAD_EVENTS],
)
async def test_invalid_event_is_refused_naming_the_problem(
    server: Harness, payload: Any, field: str, problem: str
) -> None:
    resp = await server.client.post("/e/test-key", json=payload)

    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert body["status"] == 400
    assert field in body["error"]
    assert problem in body["error"]
    assert await server.events() == []


async def test_one_bad_event_in_a_batch_stores_none(server: Harness) -> None:
    batch = [{"name": "good/one"}, {"name": "good/two"}, {"name": ""}, {"name": "good/three"}]

    resp = await server.client.post("/e/test-key", json=batch)

    assert resp.status_code == 400
    assert "events[2].name" in resp.json()["error"]
    assert await server.events() == []


async def test_malformed_json_is_refused(server: Harness) -> None:
    resp = await server.client.post(
        "/e/test-key", content=b'{"name": "a/b",', headers={"content-type": "application/json"}
    )

    assert resp.status_code == 400
    assert "malformed JSON" in resp.json()["error"]
    assert await server.events() == []


@pytest.mark.parametrize("body", [b"[]", b'"a/b"', b"42"], ids=["empty array", "string", "number"])
async def test_body_that_is_not_events_is_refused(server: Harness, body: bytes) -> None:
    resp = await server.client.post("/e/test-key", content=body)

    assert resp.status_code == 400
    assert resp.json()["error"]
    assert await server.events() == []


async def test_event_over_the_size_limit_gets_413(server: Harness) -> None:
    limit = server.engine.config.max_event_bytes
    events = [{"name": "big/ok"}, {"name": "big/evt", "data": {"blob": "x" * (limit + 1)}}]

    resp = await server.client.post("/e/test-key", json=events)

    assert resp.status_code == 413
    body = resp.json()
    assert body["status"] == 413
    assert "too large" in body["error"]
    assert str(limit) in body["error"]
    assert await server.events() == []


async def test_event_just_under_the_size_limit_is_accepted(server: Harness) -> None:
    limit = server.engine.config.max_event_bytes
    blob = "x" * (limit - 100)

    [event_id] = await server.send({"name": "big/evt", "data": {"blob": blob}})

    assert (await server.get_data(f"/v1/events/{event_id}"))["data"]["blob"] == blob


async def test_more_than_5000_events_are_refused(server: Harness) -> None:
    resp = await server.client.post("/e/test-key", json=[{"name": "many/e"}] * 5001)

    assert resp.status_code == 400
    assert "5000" in resp.json()["error"]
    assert await server.events() == []


async def test_exactly_5000_events_are_accepted(asgi_server: Harness) -> None:
    ids = await asgi_server.send([{"name": "many/e"}] * 5000)

    assert len(set(ids)) == 5000
    assert len(await asgi_server.events(name="many/e", limit=1000)) == 1000


async def test_255_char_name_is_accepted(server: Harness) -> None:
    name = "n" * 255

    [event_id] = await server.send({"name": name})

    assert (await server.get_data(f"/v1/events/{event_id}"))["name"] == name


async def test_ts_zero_or_missing_means_received_now(server: Harness) -> None:
    ids = await server.send([{"name": "t/zero", "ts": 0}, {"name": "t/none"}])

    for event_id in ids:
        stored = await server.get_data(f"/v1/events/{event_id}")
        assert stored["ts"] == server.parse_iso(stored["received_at"])


async def test_configured_event_keys_refuse_unknown_keys(asgi_server_with: Any) -> None:
    async with asgi_server_with(event_keys=frozenset({"secret"})) as server:
        refused = await server.client.post("/e/wrong", json={"name": "k/evt"})
        accepted = await server.client.post("/e/secret", json={"name": "k/evt"})

        assert refused.status_code == 401
        assert refused.json()["error"] == "Event key not found"
        assert accepted.status_code == 200
        assert [e["internal_id"] for e in await server.events()] == accepted.json()["ids"]


async def test_configured_max_event_size_applies(asgi_server_with: Any) -> None:
    async with asgi_server_with(engine={"max_event_bytes": 1024}) as server:
        small = await server.client.post("/e/k", json={"name": "s/e", "data": {"b": "x" * 900}})
        big = await server.client.post("/e/k", json={"name": "s/e", "data": {"b": "x" * 1100}})

        assert small.status_code == 200
        assert big.status_code == 413
        assert "1024" in big.json()["error"]
        assert len(await server.events()) == 1
