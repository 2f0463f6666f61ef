"""An event accepted by one node starts every function synced through another before it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from surge.engine.registry import Registry

if TYPE_CHECKING:
    from conftest import Harness, ScriptedApp

pytestmark = pytest.mark.postgres

NodeFactory = Callable[[str], contextlib.AbstractAsyncContextManager["Harness"]]
ROUNDS = 50


async def test_an_event_sent_right_after_a_sync_elsewhere_starts_its_run_every_time(
    postgres_url: str, sdk_app: ScriptedApp, asgi_node: NodeFactory
) -> None:
    async with asgi_node(postgres_url) as first, asgi_node(postgres_url) as second:
        functions: list[dict[str, Any]] = []
        event_ids = []
        for n in range(ROUNDS):
            functions.append(sdk_app.function("race", f"fn{n}", [{"event": f"race/{n}"}]))
            sdk_app.script(f"race-fn{n}", [sdk_app.ok(n)])
            await sdk_app.register(first, "race", functions)

            [event_id] = await second.send({"name": f"race/{n}", "data": {}})

            # The runs are stored with the event: no waiting, no polling.
            runs = await second.event_runs(event_id)
            assert [r["function_id"] for r in runs] == [f"race-fn{n}"], f"round {n}"
            event_ids.append(event_id)

        for n, event_id in enumerate(event_ids):
            [run] = await second.wait_event_runs(event_id, 1)
            assert (run["status"], run["output"]) == ("Completed", n)


async def test_a_sync_while_a_node_loads_its_registry_still_reaches_that_node(
    postgres_url: str,
    sdk_app: ScriptedApp,
    asgi_node: NodeFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    function = sdk_app.function("late", "fn", [{"event": "late/go"}])
    sdk_app.script("late-fn", [sdk_app.ok("done")])
    async with asgi_node(postgres_url) as first:
        original = Registry.load
        pending: list[Any] = [first]

        async def load_then_sync_elsewhere(registry: Registry) -> Any:
            # The second node has read the (empty) registry; the sync lands right after.
            snapshot = await original(registry)
            if pending:
                await sdk_app.register(pending.pop(), "late", [function])
            return snapshot

        monkeypatch.setattr(Registry, "load", load_then_sync_elsewhere)
        async with asgi_node(postgres_url) as second:
            assert not pending, "the second node never loaded its registry"

            [event_id] = await second.send({"name": "late/go", "data": {}})

            [run] = await second.event_runs(event_id)
            assert (await second.wait_run(run["run_id"]))["status"] == "Completed"
