"""An app synced on one node reaches a node that was starting at that very moment."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from surge.engine.registry import Registry

if TYPE_CHECKING:
    from conftest import Harness, ScriptedApp

pytestmark = pytest.mark.postgres

NodeFactory = Callable[[str], contextlib.AbstractAsyncContextManager["Harness"]]


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

        async def load_then_sync_elsewhere(registry: Registry) -> None:
            # The second node has read the (empty) app list; the sync lands right after.
            await original(registry)
            if pending:
                await sdk_app.register(pending.pop(), "late", [function])

        monkeypatch.setattr(Registry, "load", load_then_sync_elsewhere)
        async with asgi_node(postgres_url) as second:
            assert not pending, "the second node never loaded its registry"

            # Nodes learn of other nodes' syncs within a second; until then an event at the
            # second node starts nothing, so keep sending until one does.
            async def a_run_started() -> list[dict[str, Any]]:
                [event_id] = await second.send({"name": "late/go", "data": {}})
                await asyncio.sleep(0.1)
                return await second.event_runs(event_id)

            [run] = await second.wait_for(a_run_started, what="an event to start a run")
            assert (await second.wait_run(run["run_id"]))["status"] == "Completed"
