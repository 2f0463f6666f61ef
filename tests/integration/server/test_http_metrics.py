"""``GET /metrics``: the Prometheus exposition, its values checked after a known workload."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from prometheus_client.parser import text_string_to_metric_families

if TYPE_CHECKING:
    from conftest import Harness, Received, Reply, ScriptedApp


async def scrape(server: Harness) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    resp = await server.client.get("/metrics")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(resp.text)
        for sample in family.samples
    }


async def test_metrics_count_runs_skips_calls_and_the_flow_control_backlog(
    any_db: Harness, sdk_app: ScriptedApp
) -> None:
    release = asyncio.Event()

    async def held(call: Received) -> Reply:
        await release.wait()
        return sdk_app.ok()

    ok = sdk_app.function("m", "ok", [{"event": "m/go"}])
    broken = sdk_app.function("m", "broken", [{"event": "m/go"}], retries=0)
    limited = sdk_app.function("m", "limited", [{"event": "m/limited"}])
    limited["concurrency"] = [{"limit": 1}]
    sdk_app.script("m-ok", lambda call: sdk_app.ok(1))
    sdk_app.script("m-broken", lambda call: sdk_app.fn_error("no", no_retry=True))
    sdk_app.script("m-limited", held)
    await sdk_app.register(any_db, "m", [ok, broken, limited])
    sent = await any_db.send([{"name": "m/go", "data": {"n": n}} for n in range(3)])
    for event_id in sent:
        await any_db.wait_event_runs(event_id, 2)
    await any_db.client.post("/v1/functions/m-ok/pause")
    [paused] = await any_db.send({"name": "m/go"})
    await any_db.wait_event_runs(paused, 2)
    limited_ids = await any_db.send([{"name": "m/limited"}, {"name": "m/limited"}])
    await sdk_app.wait_calls("m-limited", 1)  # one runs (held); the other waits its turn
    try:
        seen = await scrape(any_db)
    finally:
        release.set()

    def value(name: str, **labels: str) -> float:
        return seen.get((name, tuple(sorted(labels.items()))), 0.0)

    assert value("surge_events_received_total") == 6
    # Each ended run emits inngest/function.finished, a failed one also .failed: 3 + 2 x 4.
    assert value("surge_events_stored_total") == 6 + 3 + 2 * 4
    assert value("surge_runs_started_total", function="m-ok") == 3
    assert value("surge_runs_started_total", function="m-broken") == 4
    assert value("surge_runs_started_total", function="m-limited") == 2
    assert value("surge_runs_skipped_total", function="m-ok", reason="paused") == 1
    assert value("surge_runs_ended_total", function="m-ok", status="Completed") == 3
    assert value("surge_runs_ended_total", function="m-broken", status="Failed") == 4
    assert value("surge_step_calls_total", function="m-ok", result="ok") == 3
    assert value("surge_step_calls_total", function="m-broken", result="error") == 4
    assert value("surge_step_call_duration_seconds_count", function="m-ok") == 3
    assert value("surge_leases_active") >= 1  # the held call
    assert value("surge_flow_backlog", function="m-limited", reason="concurrency") == 1
    assert (
        value("surge_flow_backlog_oldest_seconds", function="m-limited", reason="concurrency") > 0
    )
    labels = {label for name, labelset in seen for label, _ in labelset}
    assert labels <= {"function", "status", "reason", "result", "kind", "le"}

    for event_id in limited_ids:
        await any_db.wait_event_runs(event_id, 1)
    after: dict[Any, float] = await scrape(any_db)
    assert (
        after.get(("surge_runs_ended_total", (("function", "m-limited"), ("status", "Completed"))))
        == 2
    )
    assert not any(name == "surge_flow_backlog" for name, _ in after)
