"""Cron across restarts: a tick missed while the server was down fires once, never twice."""

from __future__ import annotations

import asyncio
import datetime
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from surge.core import codec

if TYPE_CHECKING:
    import contextlib

    from conftest import Harness, ScriptedApp

EVERY_MINUTE = "* * * * *"


def rfc3339(ms: int) -> str:
    moment = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def pretend_down_through_a_tick(db: Path, *, missed_at: int) -> None:
    """Move the queued tick into the past, as if the server slept through it."""
    with sqlite3.connect(db) as conn:
        [(item_id, payload)] = conn.execute(
            "SELECT id, payload FROM work_items WHERE kind = 'cron'"
        ).fetchall()
        moved = {**codec.loads(payload), "fire_at": missed_at}
        conn.execute(
            "UPDATE work_items SET due_at = ?, payload = ? WHERE id = ?",
            (missed_at, codec.dumps_str(moved), item_id),
        )


async def runs_by_tick(harness: Harness) -> dict[str, list[dict[str, Any]]]:
    """Runs of `down-tick`, keyed by the scheduled time of the tick that started them."""
    found: dict[str, list[dict[str, Any]]] = {}
    for run in await harness.get_data("/v1/runs", function_id="down-tick"):
        event = await harness.get_data(f"/v1/events/{run['event_id']}")
        found.setdefault(event["id"], []).append(run)
    return found


async def test_a_tick_missed_while_down_fires_once_on_restart_and_not_again(
    asgi_server_with: Callable[..., contextlib.AbstractAsyncContextManager[Harness]],
    sdk_app: ScriptedApp,
    tmp_path: Path,
) -> None:
    function = sdk_app.function("down", "tick", [{"cron": EVERY_MINUTE}])
    sdk_app.script("down-tick", [sdk_app.ok("ticked")] * 5)
    async with asgi_server_with() as first:
        await sdk_app.register(first, "down", [function])
        missed_at = (first.now_ms() // 60_000 - 2) * 60_000
    tick = rfc3339(missed_at)

    pretend_down_through_a_tick(tmp_path / "surge.db", missed_at=missed_at)

    async with asgi_server_with() as second:
        restarted_at = rfc3339(second.now_ms())
        for _ in range(500):
            if runs := (await runs_by_tick(second)).get(tick):
                break
            await asyncio.sleep(0.02)
        [run] = runs
        assert run["cron"] == EVERY_MINUTE
        assert (await second.wait_run(run["run_id"]))["status"] == "Completed"
        # The next tick is counted from now: the minute after the missed one is not replayed.
        [following] = await second.cron_items()
        assert following.payload["fire_at"] > second.now_ms() - 1_000
        fired_while_down = [t for t in await runs_by_tick(second) if t < restarted_at]
        assert fired_while_down == [tick]

    async with asgi_server_with() as third:
        await asyncio.sleep(0.3)
        assert [r["run_id"] for r in (await runs_by_tick(third))[tick]] == [run["run_id"]]
