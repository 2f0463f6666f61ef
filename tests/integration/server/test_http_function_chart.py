"""The function page's chart of its runs, through the real ASGI app with the dashboard, on
SQLite and PostgreSQL: runs that really completed, failed, were cancelled, still run or were
skipped, five hours ago and now, counted per hour and in all, with their failure rate."""

from __future__ import annotations

import asyncio
import datetime
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from surge.core.clock import SystemClock
from surge.dashboard import dashboard_routes
from surge.engine import Engine, EngineConfig
from surge.server import create_app
from surge.storage import open_storage

if TYPE_CHECKING:
    from conftest import Received, Reply, ScriptedApp

HOUR_MS = 3_600_000
SLUG = "chart-pay"
FINAL = {"Completed", "Failed", "Cancelled", "Skipped"}
STATUSES = ("completed", "failed", "cancelled", "running", "skipped")


class ShiftedClock(SystemClock):
    """The wall clock, moved by `offset_ms`."""

    def __init__(self) -> None:
        self.offset_ms = 0

    def now(self) -> int:
        return super().now() + self.offset_ms


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "surge.db")
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
async def client(database: str, clock: ShiftedClock) -> AsyncIterator[httpx.AsyncClient]:
    """The server with its dashboard, in process, on `database`, reading `clock`."""
    config = EngineConfig(retry_interval=0.05, discovery=False, poll=False)
    engine = Engine(open_storage(database), config, clock=clock)
    app = create_app(engine, pages=dashboard_routes(engine))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://surge.localhost") as c:
            yield c


async def until(check: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while not (found := await check()):
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
    return found


async def start(
    client: httpx.AsyncClient, *outcomes: str, settle: set[str]
) -> list[dict[str, Any]]:
    """Send one ``chart/pay`` event per outcome; return each one's run once its status is in
    `settle`."""
    events = [{"name": "chart/pay", "data": {"outcome": outcome}} for outcome in outcomes]
    resp = await client.post("/e/test-key", json=events)
    assert resp.status_code == 200, resp.text
    runs = []
    for event_id in resp.json()["ids"]:

        async def settled(event_id: str = event_id) -> dict[str, Any] | None:
            found = (await client.get(f"/v1/events/{event_id}/runs")).json()["data"]
            return found[0] if found and found[0]["status"] in settle else None

        runs.append(await until(settled, f"the run of event {event_id}"))
    return runs


async def register(client: httpx.AsyncClient, sdk_app: ScriptedApp) -> None:
    """Sync the app ``chart``: its one function, ``pay`` (``chart-pay``), on ``chart/pay``."""
    body = sdk_app.register_body(
        "chart", [sdk_app.function("chart", "pay", [{"event": "chart/pay"}])]
    )
    resp = await client.post("/fn/register", json=body)
    assert resp.status_code == 200, resp.text


def hour_of(run: dict[str, Any]) -> str:
    """The hour (UTC) the run started in, as the chart's table writes a span's start."""
    started = datetime.datetime.fromisoformat(run["run_started_at"].replace("Z", "+00:00"))
    return started.replace(minute=0, second=0, microsecond=0).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def table(page: str) -> dict[str, dict[str, str]]:
    """The chart's table: per span with runs (by its start), and ``"all"``, the numbers."""
    found = {}
    for start, cells in re.findall(
        r'<tr data-bucket="\d+">\s*<td><time datetime="([^"]+)">.*?</td>(.*?)</tr>', page, re.S
    ):
        row = dict(re.findall(r'<td class="(\w+)">([^<]*)</td>', cells))
        if row["started"] != "0":
            found[start] = row
    [total] = re.findall(r'<tr class="total">(.*?)</tr>', page, re.S)
    found["all"] = dict(re.findall(r'<td class="(\w+)">([^<]*)</td>', total))
    return found


def numbers(started: int, rate: str, **counts: int) -> dict[str, str]:
    row = {"started": str(started), "rate": rate}
    return row | {status: str(counts.get(status, 0)) for status in STATUSES}


async def test_the_function_page_charts_its_runs_by_status_with_the_failure_rate(
    client: httpx.AsyncClient, clock: ShiftedClock, sdk_app: ScriptedApp
) -> None:
    def pay(call: Received) -> Reply:
        outcome = call.body["event"]["data"]["outcome"]
        if outcome == "fail":
            return sdk_app.fn_error("card declined", no_retry=True)
        if outcome == "sleep":
            return sdk_app.ops(sdk_app.op("Sleep", "settle", name="30d"))
        return sdk_app.ok("paid")

    sdk_app.script(SLUG, pay)
    await register(client, sdk_app)

    clock.offset_ms = -5 * HOUR_MS  # five hours ago: three paid, one declined
    earlier = await start(client, "ok", "ok", "ok", "fail", settle=FINAL)
    clock.offset_ms = 0  # now: one of each way a run can stand
    now = await start(client, "ok", "fail", settle=FINAL)
    cancelled, running = await start(client, "sleep", "sleep", settle={"Running"})
    assert (await client.delete(f"/v1/runs/{cancelled['run_id']}")).status_code == 200
    assert (await client.post(f"/functions/{SLUG}/pause")).status_code == 303
    [skipped] = await start(client, "ok", settle={"Skipped"})
    assert (await client.post(f"/functions/{SLUG}/resume")).status_code == 303
    assert [r["status"] for r in earlier] == ["Completed"] * 3 + ["Failed"]
    assert [r["status"] for r in now] == ["Completed", "Failed"]
    assert skipped["skip_reason"] == "paused"

    page = await client.get(f"/functions/{SLUG}")
    assert page.status_code == 200, page.text
    recent = numbers(5, "33%", completed=1, failed=1, cancelled=1, running=1, skipped=1)
    assert table(page.text) == {
        hour_of(earlier[0]): numbers(4, "25%", completed=3, failed=1),
        hour_of(running): recent,
        "all": numbers(9, "29%", completed=4, failed=2, cancelled=1, running=1, skipped=1),
    }
    assert hour_of(earlier[0]) != hour_of(running)
    summary = re.search(r'<p class="chart-summary">(.*?)</p>', page.text, re.S)
    assert summary is not None
    assert (
        re.sub(r"<[^>]+>|\s+", " ", summary.group(1)).split()
        == (
            "9 started · 4 completed · 2 failed · 1 cancelled · 1 running · 1 skipped"
            " · failure rate 29% (2 of 7 that ended)"
        ).split()
    )
    says = "5 runs started (1 completed, 1 failed, 1 cancelled, 1 running, 1 skipped);"
    assert f"{says} failure rate 33% (1 of 3 ended)</title>" in page.text
    says = "4 runs started (3 completed, 1 failed); failure rate 25% (1 of 4 ended)"
    assert f"UTC: {says}</title>" in page.text
    assert f'href="/runs?function={SLUG}&amp;from=' in page.text

    last_hour = await client.get(f"/functions/{SLUG}", params={"window": "1h"})
    assert table(last_hour.text)["all"] == recent
    assert "Runs started in the last hour" in last_hour.text
    week = await client.get(f"/functions/{SLUG}", params={"window": "7d"})
    assert table(week.text)["all"]["started"] == "9"


async def test_a_window_the_chart_does_not_have_gets_a_400_page(
    client: httpx.AsyncClient, sdk_app: ScriptedApp
) -> None:
    await register(client, sdk_app)

    resp = await client.get(f"/functions/{SLUG}", params={"window": "1w"})

    assert resp.status_code == 400
    assert resp.headers["content-type"].startswith("text/html")
    assert "window &#39;1w&#39; is not one of 1h, 24h, 7d" in resp.text
    assert (await client.get(f"/functions/{SLUG}", params={"window": "7d"})).status_code == 200
