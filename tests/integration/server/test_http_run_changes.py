"""Pages that follow runs (the dashboard's live lists) hear of runs another node ended."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from test_http_cancellations import sleepers

if TYPE_CHECKING:
    from conftest import Harness, ScriptedApp

QUIET_S = 0.5
"""How long without a change before the test starts to wait for one."""
WAIT_S = 30.0
"""How long the waiter waits before it gives up (and the test fails): ample for a wake-up."""


@pytest.mark.postgres
async def test_a_run_another_node_ends_wakes_this_nodes_followers(
    postgres_url: str,
    sdk_app: ScriptedApp,
    asgi_node: Callable[[str], contextlib.AbstractAsyncContextManager[Harness]],
) -> None:
    async with asgi_node(postgres_url) as first, asgi_node(postgres_url) as second:
        [run_id] = await sleepers(first, sdk_app, [{}])
        engine = first.node.engine
        while await engine.runs_changed(QUIET_S):
            pass  # until the run's own start and sleep are old news
        waiting = asyncio.create_task(engine.runs_changed(WAIT_S))
        await asyncio.sleep(0)

        resp = await second.client.delete(f"/v1/runs/{run_id}")
        assert resp.status_code == 200, resp.text

        assert await waiting, "the first node never heard that the second ended a run"
        assert (await first.run(run_id))["status"] == "Cancelled"
