"""Serve endpoint behaviour: status codes and headers, errors, sync config, signatures."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

import surge
from surge.core.ids import hash_step_id as h
from surge.core.signing import signature
from surge.sdk._comm import Comm, CommRequest
from surge.sdk._config import resolve_config

KEY = "signkey-test-" + "ab12" * 16


async def test_step_error_is_retriable_then_final_on_the_last_attempt(
    dev_client: surge.Surge, call: Any
) -> None:
    @dev_client.create_function(fn_id="f", trigger="t/event", retries=2)
    async def f(ctx: surge.Context) -> None:
        async def boom() -> None:
            raise ValueError("nope")

        await ctx.step.run("boom", boom)

    invoke = call(dev_client, [f])
    first = await invoke("f", attempt=0, max_attempts=3)
    (op,) = orjson.loads(first.body)
    assert first.status == 206 and op["op"] == "StepError"
    assert op["error"]["name"] == "ValueError" and op["error"]["message"] == "nope"
    assert first.headers["x-inngest-no-retry"] == "false"
    last = await invoke("f", attempt=2, max_attempts=3)
    assert orjson.loads(last.body)[0]["op"] == "StepFailed"


async def test_function_errors_map_to_status_and_no_retry(
    dev_client: surge.Surge, call: Any
) -> None:
    @dev_client.create_function(fn_id="plain", trigger="t/event")
    async def plain(ctx: surge.Context) -> None:
        raise RuntimeError("transient")

    @dev_client.create_function(fn_id="final", trigger="t/event")
    async def final(ctx: surge.Context) -> None:
        raise surge.NonRetriableError("bad input")

    @dev_client.create_function(fn_id="later", trigger="t/event")
    async def later(ctx: surge.Context) -> None:
        raise surge.RetryAfterError("rate limited", 30)

    @dev_client.create_function(fn_id="uncaught", trigger="t/event")
    async def uncaught(ctx: surge.Context) -> None:
        await ctx.step.run("s", lambda: None)

    invoke = call(dev_client, [plain, final, later, uncaught])
    r = await invoke("plain")
    assert (r.status, r.headers["x-inngest-no-retry"]) == (500, "false")
    assert orjson.loads(r.body)["message"] == "transient"
    r = await invoke("final")
    assert (r.status, r.headers["x-inngest-no-retry"]) == (400, "true")
    r = await invoke("later")
    assert (r.status, r.headers["retry-after"]) == (500, "30")
    r = await invoke("uncaught", {h("s"): {"error": {"name": "KeyError", "message": "gone"}}})
    body = orjson.loads(r.body)
    assert (r.status, r.headers["x-inngest-no-retry"], body["code"]) == (
        400,
        "true",
        "step_errored",
    )


async def test_unserializable_step_output_fails_the_step_naming_it(
    dev_client: surge.Surge, call: Any
) -> None:
    @dev_client.create_function(fn_id="f", trigger="t/event")
    async def f(ctx: surge.Context) -> None:
        await ctx.step.run("make-socket", lambda: object())

    (op,) = orjson.loads((await call(dev_client, [f])("f")).body)
    assert op["op"] == "StepFailed"
    assert "'make-socket'" in op["error"]["message"] and "object" in op["error"]["message"]


async def test_unknown_function_is_500_function_not_found(
    dev_client: surge.Surge, call: Any
) -> None:
    r = await call(dev_client, [])("missing")
    assert r.status == 500 and orjson.loads(r.body)["code"] == "function_not_found"


def test_register_config_matches_the_protocol() -> None:
    client = surge.Surge(app_id="shop", mode="dev")

    async def on_fail(ctx: surge.Context) -> None:
        return None

    @client.create_function(
        fn_id="digest",
        name="Weekly digest",
        trigger=[surge.TriggerCron(cron="0 9 * * MON"), "shop/digest.run"],
        retries=2,
        concurrency=50,
        throttle=surge.Throttle(limit=10, period="1m", burst=2),
        rate_limit=surge.RateLimit(limit=5, period=3600, key="event.data.user"),
        debounce=surge.Debounce(period="5s"),
        batch_events=surge.Batch(max_size=10, timeout="5s"),
        priority="event.data.vip ? 60 : 0",
        idempotency="event.data.id",
        cancel=surge.Cancel(event="shop/cancel", if_exp="async.data.id == event.data.id"),
        timeouts=surge.Timeouts(finish="1h"),
        singleton=surge.Singleton(mode="skip"),
        on_failure=on_fail,
    )
    async def digest(ctx: surge.Context) -> None:
        return None

    body = Comm(client, [digest], "asgi").register_body("http://app/api/inngest")
    assert body["appName"] == "shop" and body["url"] == "http://app/api/inngest"
    main, failure = body["functions"]
    assert main == {
        "id": "shop-digest",
        "name": "Weekly digest",
        "triggers": [{"cron": "0 9 * * MON"}, {"event": "shop/digest.run"}],
        "steps": {
            "step": {
                "id": "step",
                "name": "step",
                "runtime": {
                    "type": "http",
                    "url": "http://app/api/inngest?fnId=shop-digest&stepId=step",
                },
                "retries": {"attempts": 2},
            }
        },
        "concurrency": [{"limit": 50}],
        "throttle": {"limit": 10, "period": "1m", "burst": 2},
        "rateLimit": {"limit": 5, "period": "1h", "key": "event.data.user"},
        "debounce": {"period": "5s"},
        "batchEvents": {"maxSize": 10, "timeout": "5s"},
        "priority": {"run": "event.data.vip ? 60 : 0"},
        "idempotency": "event.data.id",
        "cancel": [{"event": "shop/cancel", "if": "async.data.id == event.data.id"}],
        "timeouts": {"finish": "1h"},
        "singleton": {"mode": "skip"},
    }
    assert failure["id"] == "shop-digest-failure"
    assert failure["name"] == "Weekly digest (failure)"
    assert failure["triggers"] == [
        {
            "event": "inngest/function.failed",
            "expression": "event.data.function_id == 'shop-digest'",
        }
    ]
    assert failure["steps"]["step"]["retries"] == {"attempts": 0}


def test_config_reads_surge_then_inngest_variables() -> None:
    env = {"INNGEST_DEV": "http://h:1", "SURGE_EVENT_KEY": "ek", "INNGEST_EVENT_KEY": "other"}
    config = resolve_config(environ=env)
    assert (config.mode, config.api_origin, config.event_origin) == (
        "dev",
        "http://h:1",
        "http://h:1",
    )
    assert config.event_key == "ek"
    prod = resolve_config(environ={"SURGE_SIGNING_KEY": KEY, "INNGEST_BASE_URL": "http://s"})
    assert (prod.mode, prod.signing_key, prod.api_origin) == ("production", KEY, "http://s")
    assert resolve_config(environ={"SURGE_DEV": "0"}).mode == "production"
    assert resolve_config(mode="dev", environ={}).event_key == "NO_EVENT_KEY_SET"


def test_production_without_a_signing_key_refuses_to_serve() -> None:
    client = surge.Surge(app_id="a", mode="production", signing_key=None)
    with pytest.raises(surge.SurgeError, match="signing key"):
        surge.asgi_app(client, [])


def _request(
    method: str, body: bytes = b"", headers: dict[str, str] | None = None, **query: str
) -> CommRequest:
    return CommRequest(
        method=method, url="http://app/api/inngest", query=query, headers=headers or {}, body=body
    )


async def test_production_mode_checks_signatures_and_signs_answers() -> None:
    client = surge.Surge(app_id="a", mode="production", signing_key=KEY)

    @client.create_function(fn_id="f", trigger="t/e")
    async def f(ctx: surge.Context) -> str:
        return "ok"

    comm = Comm(client, [f], "asgi")
    body = (
        b'{"event": {"name": "t/e", "data": {}}, "steps": {}, '
        b'"ctx": {"run_id": "r"}, "use_api": false}'
    )
    unsigned = await comm.handle(_request("POST", body, fnId="a-f", stepId="step"))
    assert unsigned.status == 401
    canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS)
    signed = await comm.handle(
        _request(
            "POST",
            body,
            {"x-inngest-signature": signature(canonical, KEY)},
            fnId="a-f",
            stepId="step",
        )
    )
    assert signed.status == 200 and signed.body == b'"ok"'
    assert "x-inngest-signature" in signed.headers
    get_unsigned = await comm.handle(_request("GET"))
    assert get_unsigned.status == 401
    get_signed = await comm.handle(
        _request("GET", b"", {"x-inngest-signature": signature(b"", KEY)})
    )
    assert orjson.loads(get_signed.body)["authentication_succeeded"] is True


async def test_dev_introspection_and_server_kind_checks(dev_client: surge.Surge) -> None:
    comm = Comm(dev_client, [], "asgi")
    r = await comm.handle(_request("GET"))
    assert r.status == 200 and orjson.loads(r.body)["mode"] == "dev"
    assert r.headers["x-inngest-sdk-handled"] == "true"
    assert (
        await comm.handle(_request("GET", headers={"x-inngest-server-kind": "cloud"}))
    ).status == 403
    put = await comm.handle(_request("PUT", headers={"x-inngest-server-kind": "cloud"}))
    assert put.status == 400 and orjson.loads(put.body)["code"] == "server_kind_mismatch"
    probe = await comm.handle(_request("POST", probe="trust"))
    assert probe.status == 200


async def test_put_relays_a_failed_registration_as_500(dev_client: surge.Surge) -> None:
    comm = Comm(dev_client, [], "asgi")
    r = await comm.handle(_request("PUT", b'{"url": "http://app/api/inngest"}'))
    assert r.status == 500 and orjson.loads(r.body)["code"] == "registration_failed"
    await dev_client.aclose()
