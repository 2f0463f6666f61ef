"""Retention (``--retention``): the upkeep deletes what ended before the window, and never a
running run, the events it needs, or an open batch's events."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from surge.core.clock import SystemClock
from surge.engine import EngineConfig
from surge.storage import WorkKind

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractAsyncContextManager

    from conftest import Harness, ScriptedApp

DAY_MS = 24 * 3600 * 1000


class ShiftedClock(SystemClock):
    """The wall clock, moved forward by `offset_ms`."""

    def __init__(self) -> None:
        self.offset_ms = 0

    def now(self) -> int:
        return super().now() + self.offset_ms


async def upkeep(server: Harness) -> None:
    [item] = [i for i in await server.lease_all() if i.kind is WorkKind.UPKEEP]
    await server.engine.handle(item)


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def test_retention_deletes_what_ended_before_the_window_and_keeps_what_is_needed(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Any,
    sdk_app: ScriptedApp,
    socket_server_on: Callable[..., AbstractAsyncContextManager[Harness]],
) -> None:
    database = (
        str(tmp_path / "surge.db")
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    clock = ShiftedClock()
    async with socket_server_on(database, clock=clock, retention_ms=2 * DAY_MS) as server:
        done = sdk_app.function("rt", "done", [{"event": "rt/done"}])
        napper = sdk_app.function("rt", "nap", [{"event": "rt/nap"}])
        debounced = sdk_app.function("rt", "later", [{"event": "rt/later"}])
        debounced["debounce"] = {"period": "5d"}
        nap = sdk_app.op("Sleep", "nap", name="30d")
        sdk_app.script("rt-done", lambda call: sdk_app.ok("done"))
        sdk_app.script("rt-nap", lambda call: sdk_app.ops(nap))
        await sdk_app.register(server, "rt", [done, napper, debounced])
        old_done = await server.send([{"name": "rt/done"} for _ in range(3)])
        [old_nap] = await server.send({"name": "rt/nap"})
        [old_debounced] = await server.send({"name": "rt/later"})
        old_runs = [(await server.wait_event_runs(e, 1))[0]["run_id"] for e in old_done]
        await sdk_app.wait_calls("rt-nap", 1)
        [sleeping] = await server.event_runs(old_nap)
        note = {"kind": "userland.note", "op": "set", "values": {"kept": False}}
        for run_id in (old_runs[0], sleeping["run_id"]):
            resp = await server.client.post(
                f"/v1/runs/{run_id}/metadata", json={"metadata": [note]}
            )
            assert resp.status_code == 200, resp.text

        clock.offset_ms = 3 * DAY_MS  # three days later: past the two-day window
        [recent] = await server.send({"name": "rt/done"})
        [recent_run] = await server.wait_event_runs(recent, 1)
        await upkeep(server)

        for run_id, event_id in zip(old_runs, old_done, strict=True):
            assert (await server.client.get(f"/v1/runs/{run_id}")).status_code == 404
            assert (await server.client.get(f"/v1/events/{event_id}")).status_code == 404
            assert await server.node.storage.run_history(run_id) == []  # its history too
            assert await server.node.storage.span_metadata(run_id) == []  # and metadata
        # Running, with its event; the open debounce holds its event; the recent run stays.
        assert (await server.run(sleeping["run_id"]))["status"] == "Running"
        assert len(await server.node.storage.span_metadata(sleeping["run_id"])) == 1
        assert (await server.client.get(f"/v1/events/{old_nap}")).status_code == 200
        assert (await server.client.get(f"/v1/events/{old_debounced}")).status_code == 200
        assert (await server.run(recent_run["run_id"]))["status"] == "Completed"
        # The next turn is queued.
        assert [i.kind for i in await server.lease_all()].count(WorkKind.UPKEEP) == 1


def test_a_retention_under_24_hours_is_refused() -> None:
    with pytest.raises(ValueError, match="24 hours"):
        EngineConfig(retention_ms=DAY_MS - 1)
