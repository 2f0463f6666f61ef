"""Concurrency limits through the server: the app sees no more steps at once than allowed."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Harness, Received, ScriptedApp

STEP_S = 0.05


@dataclass
class InFlight:
    """Counts the calls the app is serving at once, overall and by a group of the caller's."""

    now: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    peak: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def handler(self, group: Any, reply: Any) -> Any:
        async def handle(call: Received) -> Any:
            keys = ["*", str(group(call))]
            for key in keys:
                self.now[key] += 1
                self.peak[key] = max(self.peak[key], self.now[key])
            await asyncio.sleep(STEP_S)
            for key in keys:
                self.now[key] -= 1
            return reply

        return handle


def limited(sdk_app: ScriptedApp, name: str, concurrency: Any) -> dict[str, Any]:
    function = sdk_app.function("limits", name, [{"event": f"limits/{name}"}])
    function["concurrency"] = concurrency
    return function


async def send_all(server: Harness, name: str, datas: list[dict[str, Any]]) -> list[str]:
    ids = await server.send([{"name": f"limits/{name}", "data": data} for data in datas])
    for event_id in ids:
        [run] = await server.wait_event_runs(event_id, 1)
        assert run["status"] == "Completed", run
    return ids


async def test_a_function_limit_holds_and_is_used(any_db: Harness, sdk_app: ScriptedApp) -> None:
    function = limited(sdk_app, "three", [{"limit": 3}])  # as the Python SDK sends it
    seen = InFlight()
    sdk_app.script(function["id"], seen.handler(lambda call: "all", sdk_app.ok("done")))
    await sdk_app.register(any_db, "limits", [function])

    await send_all(any_db, "three", [{"n": n} for n in range(20)])

    assert seen.peak["*"] == 3


async def test_a_keyed_limit_is_one_queue_per_value(any_db: Harness, sdk_app: ScriptedApp) -> None:
    function = limited(sdk_app, "per-user", {"limit": 1, "key": "event.data.user"})  # as TS
    seen = InFlight()
    user = lambda call: call.body["event"]["data"]["user"]  # noqa: E731
    sdk_app.script(function["id"], seen.handler(user, sdk_app.ok("done")))
    await sdk_app.register(any_db, "limits", [function])

    await send_all(any_db, "per-user", [{"user": f"u{n % 4}"} for n in range(16)])

    assert {seen.peak[f"u{n}"] for n in range(4)} == {1}
    assert seen.peak["*"] > 1  # different users ran side by side


async def test_an_env_limit_is_shared_by_the_functions_naming_its_key(
    any_db: Harness, sdk_app: ScriptedApp
) -> None:
    shared = [{"limit": 2, "key": '"openai"', "scope": "env"}]
    first, second = limited(sdk_app, "one", shared), limited(sdk_app, "two", shared)
    seen = InFlight()
    for function in (first, second):
        sdk_app.script(function["id"], seen.handler(lambda call: "all", sdk_app.ok("done")))
    await sdk_app.register(any_db, "limits", [first, second])

    await asyncio.gather(send_all(any_db, "one", [{}] * 6), send_all(any_db, "two", [{}] * 6))

    assert seen.peak["*"] == 2


async def test_two_limits_both_hold(any_db: Harness, sdk_app: ScriptedApp) -> None:
    function = limited(sdk_app, "both", [{"limit": 3}, {"limit": 1, "key": "event.data.user"}])
    seen = InFlight()
    user = lambda call: call.body["event"]["data"]["user"]  # noqa: E731
    sdk_app.script(function["id"], seen.handler(user, sdk_app.ok("done")))
    await sdk_app.register(any_db, "limits", [function])

    await send_all(any_db, "both", [{"user": f"u{n % 5}"} for n in range(15)])

    assert seen.peak["*"] == 3
    assert {seen.peak[f"u{n}"] for n in range(5)} == {1}


async def test_steps_count_not_runs_and_a_sleeping_run_holds_no_slot(
    any_db: Harness, sdk_app: ScriptedApp
) -> None:
    function = limited(sdk_app, "sleepy", 1)
    seen = InFlight()
    phases: list[str] = []

    async def handle(call: Received) -> Any:
        if "nap" not in call.ctx["stack"]["stack"]:
            phases.append("before sleep")
            return sdk_app.ops(sdk_app.op("Sleep", "nap", name="nap", opts={"duration": "1s"}))
        phases.append("after sleep")
        return await seen.handler(lambda c: "all", sdk_app.ok("woke"))(call)

    sdk_app.script(function["id"], handle)
    await sdk_app.register(any_db, "limits", [function])

    await send_all(any_db, "sleepy", [{}] * 3)

    # Every run reached its sleep before any woke: a sleeping run holds no slot.
    assert phases == ["before sleep"] * 3 + ["after sleep"] * 3
    assert seen.peak["*"] == 1


@pytest.mark.postgres
async def test_two_nodes_on_one_database_share_a_limit(
    postgres_url: str,
    sdk_app: ScriptedApp,
    asgi_node: Callable[[str], contextlib.AbstractAsyncContextManager[Harness]],
) -> None:
    function = limited(sdk_app, "shared", [{"limit": 2}])
    seen = InFlight()
    sdk_app.script(function["id"], seen.handler(lambda call: "all", sdk_app.ok("done")))
    async with asgi_node(postgres_url) as first, asgi_node(postgres_url) as second:
        await sdk_app.register(first, "limits", [function])
        await sdk_app.register(second, "limits", [function])

        # Events through both nodes; both nodes' schedulers lease the calls.
        await asyncio.gather(
            send_all(first, "shared", [{"n": n} for n in range(8)]),
            send_all(second, "shared", [{"n": n} for n in range(8)]),
        )

    assert seen.peak["*"] == 2
