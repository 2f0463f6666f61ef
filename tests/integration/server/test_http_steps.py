"""Server-side HTTP steps (``step.fetch``'s `Gateway` op, ``step.ai.infer``'s `AIGateway`)
through the server, against a stand-in endpoint on loopback."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from surge.core.limits import MAX_HTTP_STEP_RESPONSE_BYTES

if TYPE_CHECKING:
    import contextlib

    from conftest import Harness, ScriptedApp, StandIn

S = "1a2b"  # the step's (hashed) id, as the SDK would send it


Build = Callable[..., "contextlib.AbstractAsyncContextManager[Harness]"]


async def run_op(
    server: Harness, sdk_app: ScriptedApp, op: dict[str, Any], *, retries: int = 0
) -> tuple[dict[str, Any], list[Any]]:
    """A function whose first call reports `op` and whose next returns the step's memo; its
    finished run and the calls the app got."""
    function = sdk_app.function("http", "fn", [{"event": "http/go"}], retries=retries)

    def reply(call: Any) -> Any:
        steps = call.body.get("steps") or {}
        return sdk_app.ok(steps[S]) if S in steps else sdk_app.ops(op)

    sdk_app.script(function["id"], reply)
    await sdk_app.register(server, "http", [function])
    [event_id] = await server.send({"name": "http/go"})
    [run] = await server.wait_event_runs(event_id, 1)
    return run, sdk_app.calls(function["id"])


async def test_a_fetch_step_memoizes_the_response_once_without_credentials(
    asgi_server_with: Build, sdk_app: ScriptedApp, stand_in: StandIn
) -> None:
    opts = {
        "url": f"{stand_in.url}/text?q=1",
        "method": "POST",
        "headers": {"authorization": "Bearer s3cret", "x-trace": "t-1"},
        "body": "ping",
    }
    op = sdk_app.op("Gateway", S, name="step.fetch: 127.0.0.1", opts=opts)
    async with asgi_server_with(engine={"allow_private_http_steps": True}) as server:
        run, calls = await run_op(server, sdk_app, op)
        history = await server.history(run["run_id"])

    assert run["status"] == "Completed", run
    data = run["output"]["data"]
    assert (data["status_code"], data["body"]) == (200, "plain words")
    assert "set-cookie" not in {k.lower() for k in data["headers"]}
    [request] = stand_in.requests  # requested once, though the run was called twice
    assert len(calls) == 2
    assert (request["method"], request["path"], request["body"]) == ("POST", "/text?q=1", b"ping")
    assert request["headers"]["authorization"] == "Bearer s3cret"
    [entry] = [h for h in history if h["kind"] == "step_completed"]
    assert entry["url"] == f"{stand_in.url}/text" and entry["status"] == 200
    assert "s3cret" not in json.dumps(history)


async def test_an_ai_infer_step_sends_the_key_as_the_format_wants_and_memoizes_the_json(
    asgi_server_with: Build, sdk_app: ScriptedApp, stand_in: StandIn
) -> None:
    opts = {
        "type": "step.ai.infer",
        "url": f"{stand_in.url}/chat",
        "headers": {"anthropic-version": "2023-06-01"},
        "auth_key": "sk-test",
        "format": "anthropic",
        "body": {"messages": [{"role": "user", "content": "hi"}]},
    }
    op = sdk_app.op("AIGateway", S, name="ask", opts=opts)
    async with asgi_server_with(engine={"allow_private_http_steps": True}) as server:
        run, _ = await run_op(server, sdk_app, op)
        history = await server.history(run["run_id"])

    assert run["output"] == {"data": {"choices": [{"message": {"content": "hello"}}]}}, run
    [request] = stand_in.requests
    assert request["headers"]["x-api-key"] == "sk-test"
    assert request["headers"]["anthropic-version"] == "2023-06-01"
    assert json.loads(request["body"]) == opts["body"]
    assert "sk-test" not in json.dumps(history)


async def test_private_addresses_are_refused_unless_allowed(
    asgi_server: Harness, sdk_app: ScriptedApp, stand_in: StandIn
) -> None:
    op = sdk_app.op("Gateway", S, name="f", opts={"url": f"{stand_in.url}/text"})

    run, _ = await run_op(asgi_server, sdk_app, op)

    error = run["output"]["error"]
    assert error["name"] == "HttpStepRefused", run
    assert "--allow-private-http-steps" in error["message"]
    assert stand_in.requests == []


async def test_a_model_that_stays_busy_is_retried_then_fails_the_step(
    asgi_server_with: Build, sdk_app: ScriptedApp, stand_in: StandIn
) -> None:
    opts = {"type": "step.ai.infer", "url": f"{stand_in.url}/busy", "format": "openai-chat"}
    op = sdk_app.op("AIGateway", S, name="ask", opts=opts)
    engine = {"allow_private_http_steps": True, "retry_interval": 0.05}
    async with asgi_server_with(engine=engine) as server:
        run, _ = await run_op(server, sdk_app, op, retries=2)

    assert len(stand_in.requests) == 3  # the first attempt and two retries
    assert run["output"]["error"]["name"] == "HttpStepError", run
    assert "503" in run["output"]["error"]["message"]


async def test_an_oversized_response_fails_the_step_naming_the_limit(
    asgi_server_with: Build, sdk_app: ScriptedApp, stand_in: StandIn
) -> None:
    op = sdk_app.op("Gateway", S, name="f", opts={"url": f"{stand_in.url}/huge"})
    async with asgi_server_with(engine={"allow_private_http_steps": True}) as server:
        run, _ = await run_op(server, sdk_app, op)

    error = run["output"]["error"]
    assert error["name"] == "HttpStepError", run
    assert str(MAX_HTTP_STEP_RESPONSE_BYTES) in error["message"]


async def test_a_step_without_an_http_url_fails_the_run_naming_it(
    asgi_server: Harness, sdk_app: ScriptedApp
) -> None:
    op = sdk_app.op("Gateway", S, name="f", opts={"url": "file:///etc/passwd"})

    run, _ = await run_op(asgi_server, sdk_app, op)

    assert run["status"] == "Failed"
    assert "step.fetch needs an http(s) URL" in run["error"]["message"]
