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
    "throttle": ({"limit": 5, "period": "1m", "burst": 1}, False),
    "rateLimit": ({"limit": 5, "period": "1h", "key": "event.data.user"}, False),
    "debounce": ({"period": "5s", "key": "event.data.user", "timeout": "1m"}, False),
    "batchEvents": ({"maxSize": 10, "timeout": "5s"}, False),
    "priority": ({"run": "event.data.vip ? 120 : 0"}, False),
    "idempotency": ("event.data.order", False),
    "cancel": ([{"event": "shop/cancelled", "if": "event.data.id == async.data.id"}], False),
    "singleton": ({"key": "event.data.user", "mode": "skip"}, False),
    "timeouts": ({"start": "1m", "finish": "5m"}, False),
}
"""Tested elsewhere through the server when enforced: `test_http_concurrency.py`."""


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
