"""Production mode: the API needs the signing key, events need a known event key."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import contextlib

    from conftest import Harness, ScriptedApp

HEX = "a1b2c3d4" * 8
KEY = f"signkey-prod-{HEX}"
FALLBACK = "signkey-prod-" + "0f" * 32
HASHED = hashlib.sha256(bytes.fromhex(HEX)).hexdigest()

Factory = Callable[..., "contextlib.AbstractAsyncContextManager[Harness]"]


def production(factory: Factory) -> contextlib.AbstractAsyncContextManager[Harness]:
    return factory(
        engine={"signing_key": KEY, "signing_key_fallback": FALLBACK, "server_kind": "cloud"},
        event_keys=frozenset({"good-key"}),
    )


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer undefined",
        "Bearer " + "00" * 32,
        f"Bearer signkey-prod-{'ff' * 32}",
        HASHED,  # no "Bearer "
    ],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/fn/register"),
        ("GET", "/v1/runs"),
        ("GET", "/v1/events"),
        ("GET", "/dev"),
        ("POST", "/v0/gql"),
        ("POST", "/v1/checkpoint/01J0000000000000000000RUN0/async"),
    ],
)
async def test_api_calls_without_the_signing_key_are_refused(
    asgi_server_with: Factory, method: str, path: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    async with production(asgi_server_with) as server:
        resp = await server.client.request(method, path, headers=headers, json={})
    assert resp.status_code == 401
    assert "signing key" in resp.json()["error"]


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer ünïcödé".encode(),
        b"Bearer \xff\xfe",
        "Bearer 🙂".encode(),
        f"Bearer {HEX}é".encode(),
    ],
)
async def test_a_non_ascii_authorization_header_is_a_401_not_a_crash(
    asgi_server_with: Factory, authorization: bytes
) -> None:
    async with production(asgi_server_with) as server:
        resp = await server.client.get("/v1/runs", headers={"Authorization": authorization})
        health = await server.client.get("/health")

    assert resp.status_code == 401
    assert "signing key" in resp.json()["error"]
    assert health.status_code == 200


@pytest.mark.parametrize(
    "token",
    [
        KEY,  # plain, as a user's curl sends it
        HEX,
        HASHED,  # the Python SDK
        f"signkey-prod-{HASHED}",  # the TypeScript SDK
        FALLBACK,  # the previous key, while keys rotate
    ],
)
async def test_every_spelling_of_the_signing_key_is_accepted(
    asgi_server_with: Factory, token: str
) -> None:
    async with production(asgi_server_with) as server:
        resp = await server.client.get("/v1/runs", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200


async def test_an_unknown_event_key_gets_401_and_stores_nothing(asgi_server_with: Factory) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    async with production(asgi_server_with) as server:
        refused = await server.client.post("/e/wrong-key", json={"name": "app/x", "data": {}})
        accepted = await server.client.post("/e/good-key", json={"name": "app/y", "data": {}})
        stored = (await server.client.get("/v1/events", headers=auth)).json()["data"]
    assert refused.status_code == 401
    assert refused.json() == {"error": "Event key not found", "status": 401}
    assert accepted.status_code == 200
    assert [e["name"] for e in stored] == ["app/y"]


async def test_health_needs_no_key(asgi_server_with: Factory) -> None:
    async with production(asgi_server_with) as server:
        resp = await server.client.get("/health")
    assert resp.status_code == 200


async def test_requests_to_apps_are_signed_with_the_signing_key(
    asgi_server_with: Factory, sdk_app: ScriptedApp
) -> None:
    from surge.core.signing import verify_signature

    function = sdk_app.function("sig", "fn", [{"event": "sig/go"}])
    sdk_app.script(function["id"], [sdk_app.ok("done")])
    async with production(asgi_server_with) as server:
        server.client.headers["Authorization"] = f"Bearer {HASHED}"
        body: dict[str, Any] = sdk_app.register_body("sig", [function])
        registered = await server.client.post("/fn/register", json=body)
        assert registered.status_code == 200, registered.text
        sent = await server.client.post("/e/good-key", json={"name": "sig/go", "data": {}})
        [event_id] = sent.json()["ids"]
        [run] = (await server.client.get(f"/v1/events/{event_id}/runs")).json()["data"]
        assert (await server.wait_run(run["run_id"]))["status"] == "Completed"
    [call] = sdk_app.calls(function["id"])
    header = call.headers["x-inngest-signature"]
    assert verify_signature(header, call.raw, [KEY])
    assert not verify_signature(header, call.raw, [FALLBACK])
