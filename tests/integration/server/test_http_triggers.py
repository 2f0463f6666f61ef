"""Which functions an event starts: exact names, wildcards, several triggers, `if` expressions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conftest import Harness, ScriptedApp


async def register(
    server: Harness, sdk_app: ScriptedApp, functions: dict[str, list[dict[str, Any]]]
) -> None:
    configs = [sdk_app.function("trg", name, triggers) for name, triggers in functions.items()]
    for config in configs:
        sdk_app.script(config["id"], [sdk_app.ok(config["id"])])
    await sdk_app.register(server, "trg", configs)


async def started(server: Harness, event: dict[str, Any]) -> set[str]:
    """Send `event`; return the slugs of the functions whose runs it started (and finished)."""
    [event_id] = await server.send(event)
    runs = await server.event_runs(event_id)
    finished = await server.wait_event_runs(event_id, len(runs)) if runs else []
    assert all(r["status"] == "Completed" for r in finished), finished
    return {r["function_id"] for r in finished}


async def test_exact_and_wildcard_triggers(asgi_server: Harness, sdk_app: ScriptedApp) -> None:
    await register(
        asgi_server,
        sdk_app,
        {
            "exact": [{"event": "app/user.created"}],
            "wild": [{"event": "app/*"}],
            "other": [{"event": "billing/*"}],
        },
    )

    assert await started(asgi_server, {"name": "app/user.created"}) == {"trg-exact", "trg-wild"}
    assert await started(asgi_server, {"name": "app/user.deleted"}) == {"trg-wild"}
    assert await started(asgi_server, {"name": "application/x"}) == set()
    assert await started(asgi_server, {"name": "billing/paid"}) == {"trg-other"}


async def test_function_with_several_triggers_runs_for_each(
    asgi_server: Harness, sdk_app: ScriptedApp
) -> None:
    await register(
        asgi_server,
        sdk_app,
        {"multi": [{"event": "a/one"}, {"event": "b/two"}], "single": [{"event": "a/one"}]},
    )

    assert await started(asgi_server, {"name": "a/one"}) == {"trg-multi", "trg-single"}
    assert await started(asgi_server, {"name": "b/two"}) == {"trg-multi"}
    assert await started(asgi_server, {"name": "c/three"}) == set()


async def test_event_matching_two_triggers_of_one_function_starts_one_run(
    asgi_server: Harness, sdk_app: ScriptedApp
) -> None:
    await register(asgi_server, sdk_app, {"both": [{"event": "a/one"}, {"event": "a/*"}]})

    [event_id] = await asgi_server.send({"name": "a/one"})
    runs = await asgi_server.wait_event_runs(event_id, 1)

    assert [r["function_id"] for r in runs] == ["trg-both"]


async def test_if_expression_filters_events(server: Harness, sdk_app: ScriptedApp) -> None:
    await register(
        server,
        sdk_app,
        {
            "pro": [{"event": "user/upgraded", "expression": 'event.data.plan == "pro"'}],
            "any": [{"event": "user/upgraded"}],
        },
    )

    assert await started(server, {"name": "user/upgraded", "data": {"plan": "pro"}}) == {
        "trg-pro",
        "trg-any",
    }
    assert await started(server, {"name": "user/upgraded", "data": {"plan": "free"}}) == {"trg-any"}
    assert await started(server, {"name": "user/upgraded", "data": {}}) == {"trg-any"}


async def test_run_receives_the_triggering_event(
    asgi_server: Harness, sdk_app: ScriptedApp
) -> None:
    await register(asgi_server, sdk_app, {"wild": [{"event": "app/*"}]})

    [event_id] = await asgi_server.send({"name": "app/signup", "data": {"email": "a@b.c"}})
    await asgi_server.wait_event_runs(event_id, 1)

    [call] = sdk_app.calls("trg-wild")
    assert call.body["event"]["name"] == "app/signup"
    assert call.body["event"]["data"] == {"email": "a@b.c"}
    assert call.body["event"]["id"] == event_id
    assert [e["name"] for e in call.body["events"]] == ["app/signup"]


async def test_expression_that_cannot_be_evaluated_does_not_match(
    asgi_server: Harness, sdk_app: ScriptedApp
) -> None:
    await register(
        asgi_server,
        sdk_app,
        {
            "big": [{"event": "n/set", "expression": "event.data.n > 5"}],
            "any": [{"event": "n/set"}],
        },
    )

    assert await started(asgi_server, {"name": "n/set", "data": {"n": "lots"}}) == {"trg-any"}
    assert await started(asgi_server, {"name": "n/set", "data": {"n": 9}}) == {"trg-big", "trg-any"}
