"""`POST /fn/register`, `DELETE /fn/remove` and `GET /dev` (`docs/protocol.md`, "Sync" and
"Server endpoints")."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Harness, ScriptedApp


async def dev_functions(server: Harness) -> dict[str, dict[str, Any]]:
    resp = await server.client.get("/dev")
    assert resp.status_code == 200
    return {f["slug"]: f for f in resp.json()["functions"]}


async def post_register(server: Harness, body: dict[str, Any], **headers: str) -> Any:
    return await server.client.post("/fn/register", json=body, headers=headers)


@pytest.mark.parametrize("key", ["appName", "appname"])
async def test_register_accepts_both_app_id_spellings(
    server: Harness, sdk_app: ScriptedApp, key: str
) -> None:
    function = sdk_app.function("shop", "welcome", [{"event": "shop/signup"}])

    resp = await post_register(server, sdk_app.register_body("shop", [function], key=key))

    assert resp.status_code == 200
    body = resp.json()
    assert body["ok"] is True
    assert body["modified"] is True
    functions = await dev_functions(server)
    assert list(functions) == ["shop-welcome"]
    assert functions["shop-welcome"]["triggers"] == [{"event": "shop/signup"}]


async def test_same_payload_again_is_not_modified_and_a_change_is(
    server: Harness, sdk_app: ScriptedApp
) -> None:
    function = sdk_app.function("shop", "welcome", [{"event": "shop/signup"}])
    body = sdk_app.register_body("shop", [function])

    first = (await post_register(server, body)).json()
    again = (await post_register(server, body)).json()
    function["name"] = "Welcome email"
    changed = (await post_register(server, body)).json()

    assert (first["modified"], again["modified"], changed["modified"]) == (True, False, True)
    assert (await dev_functions(server))["shop-welcome"]["name"] == "Welcome email"


async def test_deploy_id_and_probe_are_stripped_from_stored_urls(
    server: Harness, sdk_app: ScriptedApp
) -> None:
    slug = "shop-welcome"
    function = sdk_app.function("shop", "welcome", [{"event": "shop/signup"}])
    step_url = f"{sdk_app.url}?deployId=abc&fnId={slug}&stepId=step&probe=trust"
    function["steps"]["step"]["runtime"]["url"] = step_url
    body = sdk_app.register_body("shop", [function])
    body["url"] = f"{sdk_app.url}?deployId=abc"
    sdk_app.script(slug, [sdk_app.ok("sent")])

    resp = await post_register(server, body)
    assert resp.status_code == 200, resp.text
    [event_id] = await server.send({"name": "shop/signup"})
    [run] = await server.wait_event_runs(event_id, 1)

    [step] = (await dev_functions(server))[slug]["steps"]
    assert step["uri"] == f"{sdk_app.url}?fnId={slug}&stepId=step"
    handlers = (await server.client.get("/dev")).json()["handlers"]
    assert [h["url"] for h in handlers] == [sdk_app.url]
    assert run["status"] == "Completed"
    [call] = sdk_app.calls(slug)
    assert call.query == f"fnId={slug}&stepId=step", "the app is called without deployId/probe"


INVALID_FUNCTIONS: list[tuple[str, dict[str, Any], str]] = [
    ("bad cron", {"triggers": [{"cron": "every minute"}]}, "triggers[0].cron"),
    (
        "bad trigger expression",
        {"triggers": [{"event": "shop/signup", "expression": "event.data.plan =="}]},
        "triggers[0].expression",
    ),
    ("retries 99", {"retries": 99}, "steps.step.retries.attempts"),
    ("trigger with neither event nor cron", {"triggers": [{}]}, "triggers[0]"),
    ("257-char trigger event", {"triggers": [{"event": "e" * 256}]}, "triggers[0].event"),
    ("NUL in a trigger event", {"triggers": [{"event": "shop/\x00"}]}, "triggers[0].event"),
    ("NUL in the name", {"name": "a\x00b"}, "name"),
    ("a list as singleton.mode", {"singleton": {"mode": ["skip"]}}, "singleton.mode"),
    (
        "a comprehension inside another in a trigger",
        {
            "triggers": [
                {
                    "event": "shop/x",
                    "expression": "event.data.l.all(x, event.data.l.all(y, x + y >= 0))",
                }
            ]
        },
        "triggers[0].expression",
    ),
    (
        "a 6,000-character concurrency key",
        {"concurrency": [{"limit": 1, "key": " + ".join(["event.data.a"] * 400)}]},
        "concurrency[0].key",
    ),
    (
        "an object as concurrency.scope",
        {"concurrency": [{"limit": 1, "scope": {"fn": 1}}]},
        "concurrency[0].scope",
    ),
    ("a limit of 2^64-1", {"concurrency": 2**64 - 1}, "concurrency"),
    ("a limit of 2^63", {"throttle": {"limit": 2**63, "period": "1s"}}, "throttle.limit"),
    ("a period of -1s", {"throttle": {"limit": 1, "period": "-1s"}}, "throttle.period"),
    ("a period of 0s", {"rateLimit": {"limit": 1, "period": "0s"}}, "rateLimit.period"),
    (
        "a period of 9999999999999999999999h",
        {"debounce": {"period": "9999999999999999999999h"}},
        "debounce.period",
    ),
    ("a cron jitter of 0s", {"triggers": [{"cron": "* * * * *", "jitter": "0s"}]}, "jitter"),
    *[
        (f"step url {label}", {"steps": {"step": {"id": "step", "runtime": {"url": url}}}}, field)
        for label, url, field in [
            ("'1'", "1", "steps.step.runtime.url"),
            ("with NUL", "http://app.test/\x00", "steps.step.runtime.url"),
            ("of 10,000 characters", "http://app.test/" + "a" * 10_000, "steps.step.runtime.url"),
            ("ftp://", "ftp://app.test/api", "steps.step.runtime.url"),
            ("without a host", "http:///api/inngest", "steps.step.runtime.url"),
            ("with a bad port", "http://app.test:99999/api", "steps.step.runtime.url"),
        ]
    ],
]


@pytest.mark.parametrize(
    ("change", "field"),
    [case[1:] for case in INVALID_FUNCTIONS],
    ids=[case[0] for case in INVALID_FUNCTIONS],
)
async def test_invalid_function_is_refused_and_nothing_changes(
    any_db: Harness, sdk_app: ScriptedApp, change: dict[str, Any], field: str
) -> None:
    server = any_db
    good = sdk_app.function("shop", "welcome", [{"event": "shop/signup"}])
    await sdk_app.register(server, "shop", [good])
    before = await dev_functions(server)
    options = dict(change)
    retries = options.pop("retries", None)
    bad = sdk_app.function("shop", "broken", [{"event": "shop/x"}], retries=retries)
    bad.update(options)
    renamed = {**good, "name": "renamed"}

    resp = await post_register(server, sdk_app.register_body("shop", [renamed, bad]))

    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert body["status"] == 400
    assert "shop-broken" in body["error"]
    assert field in body["error"]
    assert await dev_functions(server) == before


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("url", "1", "must be an absolute http:// or https:// URL"),
        ("url", "http://app.test/\x00", "must not contain spaces or control characters"),
        ("url", "http://app.test/" + "a" * 10_000, "URL is too long: 10016 characters"),
        ("appName", "shop\x00", "app id must not contain a NUL character"),
        ("appName", "s" * 256, "app id is too long: 256 characters"),
        ("sdk", "py\x00", "sdk must not contain a NUL character"),
    ],
)
async def test_an_app_the_server_could_not_call_or_store_is_refused(
    any_db: Harness, sdk_app: ScriptedApp, field: str, value: str, problem: str
) -> None:
    server = any_db
    body = sdk_app.register_body("shop", [sdk_app.function("shop", "ok", [{"event": "a"}])])
    body[field] = value

    resp = await post_register(server, body)

    assert resp.status_code == 400, resp.text
    assert resp.json()["field"] == field
    assert problem in resp.json()["error"]
    assert await dev_functions(server) == {}


async def test_expected_server_kind_cloud_is_refused(server: Harness, sdk_app: ScriptedApp) -> None:
    function = sdk_app.function("shop", "welcome", [{"event": "shop/signup"}])

    resp = await post_register(
        server,
        sdk_app.register_body("shop", [function]),
        **{"X-Inngest-Expected-Server-Kind": "cloud"},
    )

    assert resp.status_code == 400
    assert "cloud" in resp.json()["error"]
    assert await dev_functions(server) == {}


async def test_expected_server_kind_dev_is_accepted(server: Harness, sdk_app: ScriptedApp) -> None:
    function = sdk_app.function("shop", "welcome", [{"event": "shop/signup"}])

    resp = await post_register(
        server,
        sdk_app.register_body("shop", [function]),
        **{"X-Inngest-Expected-Server-Kind": "dev"},
    )

    assert resp.status_code == 200
    assert list(await dev_functions(server)) == ["shop-welcome"]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"url": "http://127.0.0.1:1/api/inngest", "functions": []}, "App ID required"),
        ({"appName": "shop", "functions": []}, "url"),
        ({"appName": "shop", "url": "http://x/api/inngest", "functions": {}}, "functions"),
    ],
    ids=["no app id", "no url", "functions not an array"],
)
async def test_register_without_required_fields_is_refused(
    server: Harness, body: dict[str, Any], problem: str
) -> None:
    resp = await post_register(server, body)

    assert resp.status_code == 400
    assert problem in resp.json()["error"]
    assert (await server.client.get("/dev")).json()["handlers"] == []


async def test_register_malformed_json_is_refused(server: Harness) -> None:
    resp = await server.client.post("/fn/register", content=b"{nope")

    assert resp.status_code == 400
    assert "malformed JSON" in resp.json()["error"]


async def test_resync_without_a_function_removes_it(server: Harness, sdk_app: ScriptedApp) -> None:
    keep = sdk_app.function("shop", "keep", [{"event": "shop/a"}])
    drop = sdk_app.function("shop", "drop", [{"event": "shop/b"}])
    await sdk_app.register(server, "shop", [keep, drop])

    body = await sdk_app.register(server, "shop", [keep])

    assert body["modified"] is True
    assert list(await dev_functions(server)) == ["shop-keep"]
    [event_id] = await server.send({"name": "shop/b"})
    assert await server.event_runs(event_id) == []


@pytest.mark.parametrize("how", ["query", "body"])
async def test_remove_app_forgets_its_functions(
    server: Harness, sdk_app: ScriptedApp, how: str
) -> None:
    function = sdk_app.function("shop", "welcome", [{"event": "shop/signup"}])
    await sdk_app.register(server, "shop", [function])

    if how == "query":
        resp = await server.client.delete("/fn/remove", params={"url": sdk_app.url})
    else:
        resp = await server.client.request("DELETE", "/fn/remove", json={"url": sdk_app.url})

    assert resp.status_code == 200
    assert resp.json() == {"ok": True}
    assert await dev_functions(server) == {}
    assert (await server.client.get("/dev")).json()["handlers"] == []
    [event_id] = await server.send({"name": "shop/signup"})
    assert await server.event_runs(event_id) == []
    again = await server.client.delete("/fn/remove", params={"url": sdk_app.url})
    assert again.status_code == 404


async def test_remove_without_url_is_refused(server: Harness) -> None:
    resp = await server.client.delete("/fn/remove")

    assert resp.status_code == 400
    assert "url" in resp.json()["error"]


async def test_health_answers_ok(server: Harness) -> None:
    resp = await server.client.get("/health")

    assert resp.status_code == 200
    assert resp.json()["status"] == 200


async def test_unknown_route_and_method_get_json_errors(server: Harness) -> None:
    missing = await server.client.get("/v1/nothing-here")
    wrong_method = await server.client.get("/fn/register")

    assert missing.status_code == 404
    assert "/v1/nothing-here" in missing.json()["error"]
    assert wrong_method.status_code == 405
    assert wrong_method.json()["status"] == 405


async def test_function_slug_claimed_by_a_second_app_is_called_where_dev_says(
    asgi_server: Harness, sdk_app: ScriptedApp
) -> None:
    """Two apps send the same function id; the server must call the app it lists for it."""
    slug = "shared-fn"
    for app_id in ("zeta", "beta"):
        url = f"{sdk_app.url}?app={app_id}"
        function = sdk_app.function(app_id, "fn", [{"event": "shared/go"}], url=url)
        function["id"] = slug
        function["steps"]["step"]["runtime"]["url"] = f"{url}&fnId={slug}&stepId=step"
        body = {**sdk_app.register_body(app_id, [function]), "url": url}
        assert (await post_register(asgi_server, body)).status_code == 200
    sdk_app.script(slug, [sdk_app.ok()])
    [listed] = (await dev_functions(asgi_server))[slug]["steps"]

    [event_id] = await asgi_server.send({"name": "shared/go"})
    await asgi_server.wait_event_runs(event_id, 1)

    [call] = sdk_app.calls(slug)
    assert f"{sdk_app.url}?{call.query}" == listed["uri"]


async def test_dev_shows_the_start_options(asgi_server_with: Any) -> None:
    async with asgi_server_with(start_opts={"port": 8288, "no_discovery": True}) as server:
        dev = (await server.client.get("/dev")).json()

    assert dev["startOpts"] == {"port": 8288, "no_discovery": True}
    assert (dev["functions"], dev["handlers"]) == ([], [])
