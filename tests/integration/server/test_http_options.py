"""Every function option an SDK can send is enforced or reported: never silently ignored."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Harness, ScriptedApp

OPTIONS: dict[str, tuple[Any, bool]] = {
    # option: (a value as the SDKs send it, enforced)
    "concurrency": ([{"limit": 5, "key": "event.data.user", "scope": "fn"}], True),
    "throttle": ({"limit": 5, "period": "1m", "burst": 1}, True),
    "rateLimit": ({"limit": 5, "period": "1h", "key": "event.data.user"}, True),
    "debounce": ({"period": "5s", "key": "event.data.user", "timeout": "1m"}, True),
    "batchEvents": ({"maxSize": 10, "timeout": "5s"}, True),
    "priority": ({"run": "event.data.vip ? 120 : 0"}, True),
    "idempotency": ("event.data.order", True),
    "cancel": ([{"event": "shop/cancelled", "if": "event.data.id == async.data.id"}], True),
    "singleton": ({"key": "event.data.user", "mode": "skip"}, True),
    "timeouts": ({"start": "1m", "finish": "5m"}, True),
}
"""Tested elsewhere through the server when enforced: `test_http_concurrency.py`,
`test_http_gates.py`."""


@pytest.mark.parametrize("option", sorted(OPTIONS))
async def test_each_option_is_enforced_or_reported(
    server: Harness, sdk_app: ScriptedApp, option: str, caplog: pytest.LogCaptureFixture
) -> None:
    value, enforced = OPTIONS[option]
    function = sdk_app.function("opts", "fn", [{"event": "opts/evt"}])
    function[option] = value
    with caplog.at_level(logging.WARNING, logger="surge.engine.registry"):
        await sdk_app.register(server, "opts", [function])

    [listed] = (await server.client.get("/dev")).json()["functions"]
    warned = [r for r in caplog.records if "does not enforce" in r.getMessage()]
    if enforced:
        assert listed["notEnforced"] == []
        assert warned == []
    else:
        assert listed["notEnforced"] == [option]
        [warning] = warned
        assert function["id"] in warning.getMessage() and option in warning.getMessage()


async def test_run_level_concurrency_is_reported(server: Harness, sdk_app: ScriptedApp) -> None:
    function = sdk_app.function("opts", "fn", [{"event": "opts/evt"}])
    function["concurrency"] = {"fn": [{"limit": 2}], "step": [{"limit": 5}]}
    await sdk_app.register(server, "opts", [function])

    [listed] = (await server.client.get("/dev")).json()["functions"]

    assert listed["notEnforced"] == ["concurrency.fn"]


@pytest.mark.parametrize("gathered", ["debounce", "batchEvents"])
async def test_cancel_and_timeouts_of_debounced_or_batched_runs_are_reported(
    server: Harness, sdk_app: ScriptedApp, gathered: str
) -> None:
    function = sdk_app.function("opts", "fn", [{"event": "opts/evt"}])
    function[gathered] = (
        {"period": "5s"} if gathered == "debounce" else {"maxSize": 5, "timeout": "5s"}
    )
    function["cancel"] = [{"event": "opts/stop"}]
    function["timeouts"] = {"finish": "1m"}
    function["singleton"] = {"mode": "skip"}
    await sdk_app.register(server, "opts", [function])

    [listed] = (await server.client.get("/dev")).json()["functions"]

    assert listed["notEnforced"] == [f"cancel (with {gathered})", f"timeouts (with {gathered})"]


@pytest.mark.parametrize(
    ("option", "value", "range_text"),
    [
        ("throttle", {"limit": 1, "period": "8d"}, "from 1s to 7d"),
        ("rateLimit", {"limit": 1, "period": "2d"}, "from 1s to 1d"),
        ("debounce", {"period": "500ms"}, "from 1s to 7d"),
        ("batchEvents", {"maxSize": 500, "timeout": "5s"}, "from 1 to 100"),
    ],
)
async def test_an_option_out_of_its_range_fails_the_sync_naming_it(
    server: Harness, sdk_app: ScriptedApp, option: str, value: Any, range_text: str
) -> None:
    function = sdk_app.function("opts", "fn", [{"event": "opts/evt"}])
    function[option] = value

    resp = await server.client.post("/fn/register", json=sdk_app.register_body("opts", [function]))

    assert resp.status_code == 400
    message = resp.text
    assert function["id"] in message and option in message and range_text in message
    assert (await server.client.get("/dev")).json()["functions"] == []  # nothing half-synced
