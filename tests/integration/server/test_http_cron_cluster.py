"""Cron on several nodes: each schedule tick fires exactly once, whichever node takes it.

Two engines (two server nodes) share one PostgreSQL database; the app registers with both. The
test moves the queued tick into the past and wakes both nodes at the same moment, as the minute
turning would, several times over: each tick must start one run and leave one next tick queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from surge.core import codec

if TYPE_CHECKING:
    from conftest import Harness, ScriptedApp

pytestmark = pytest.mark.postgres

EVERY_MINUTE = "* * * * *"
TICKS = 5


@contextlib.asynccontextmanager
async def two_nodes(
    asgi_node: Callable[[str], contextlib.AbstractAsyncContextManager[Harness]], url: str
) -> AsyncIterator[tuple[Harness, Harness]]:
    async with asgi_node(url) as first, asgi_node(url) as second:
        yield first, second


def cron_items(postgres_url: str) -> list[tuple[int, dict[str, Any]]]:
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute("SELECT id, payload FROM work_items WHERE kind = 'cron'").fetchall()
    return [(item_id, codec.loads(payload)) for item_id, payload in rows]


def make_tick_due(postgres_url: str, *, fire_at: int) -> None:
    """Move the queued tick to `fire_at` (in the past) and wake every node at once."""
    with psycopg.connect(postgres_url) as conn:  # one transaction: the NOTIFY follows the move
        [(item_id, payload)] = conn.execute(
            "SELECT id, payload FROM work_items WHERE kind = 'cron'"
        ).fetchall()
        moved = {**codec.loads(payload), "fire_at": fire_at}
        conn.execute(
            "UPDATE work_items SET due_at = %s, payload = %s WHERE id = %s",
            (fire_at, codec.dumps_str(moved), item_id),
        )
        conn.execute("SELECT pg_notify('surge_work', 'the-test')")


def rfc3339(ms: int) -> str:
    moment = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def runs_by_tick(harness: Harness) -> dict[str, list[dict[str, Any]]]:
    """Runs of `cl-tick`, keyed by the scheduled time of the tick that started them."""
    found: dict[str, list[dict[str, Any]]] = {}
    for run in await harness.get_data("/v1/runs", function_id="cl-tick"):
        event = await harness.get_data(f"/v1/events/{run['event_id']}")
        found.setdefault(event["id"], []).append(run)
    return found


@pytest.mark.timeout(90)
async def test_each_cron_tick_fires_once_across_two_nodes(
    postgres_url: str,
    sdk_app: ScriptedApp,
    asgi_node: Callable[[str], contextlib.AbstractAsyncContextManager[Harness]],
) -> None:
    function = sdk_app.function("cl", "tick", [{"cron": EVERY_MINUTE}])
    sdk_app.script("cl-tick", [sdk_app.ok("ticked")])
    # The real tick of the next minute must not fire meanwhile: start early in a minute.
    into_minute = datetime.datetime.now(tz=datetime.UTC).timestamp() * 1000 % 60_000
    if into_minute > 30_000:
        await asyncio.sleep((60_000 - into_minute) / 1000 + 0.1)
    async with two_nodes(asgi_node, postgres_url) as (first, second):
        await sdk_app.register(first, "cl", [function])
        await sdk_app.register(second, "cl", [function])  # the same app, synced on both
        assert len(cron_items(postgres_url)) == 1

        base = (first.now_ms() // 60_000 - 10) * 60_000
        ticks = [base + k * 60_000 for k in range(TICKS)]
        for fire_at in ticks:
            make_tick_due(postgres_url, fire_at=fire_at)
            tick = rfc3339(fire_at)

            async def fired(tick: str = tick) -> list[dict[str, Any]] | None:
                return (await runs_by_tick(second)).get(tick)

            await first.wait_for(fired, what=f"the run of the tick at {tick}")
            # Both nodes were woken at once; give a second firing every chance to land.
            await asyncio.sleep(0.3)
            [run] = (await runs_by_tick(first))[tick]
            assert run["cron"] == EVERY_MINUTE
            assert (await first.wait_run(run["run_id"]))["status"] == "Completed"
            [(_, following)] = cron_items(postgres_url)
            assert following["fire_at"] > first.now_ms() - 1_000

        fired_ticks = await runs_by_tick(second)
        assert sorted(fired_ticks) == [rfc3339(t) for t in ticks]
        assert all(len(runs) == 1 for runs in fired_ticks.values())
        assert len(sdk_app.calls("cl-tick")) == TICKS
