"""Acting on many runs from the Runs page, in Chromium against a real ``surge dev`` and the
official Python SDK's compat app: replay every failed run of a function (the count first),
rerun the ticked runs, and cancel every running run of a function."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from playwright.sync_api import Page, expect

if TYPE_CHECKING:
    from conftest import AppProcess, SurgeServer


def runs_of(server: SurgeServer, slug: str) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = server.request(
        "GET", "/v1/runs", params={"function_id": slug}
    ).json()["data"]
    return runs


def test_failed_runs_are_replayed_ticked_ones_rerun_and_running_ones_cancelled(
    page: Page,
    surge_server: Callable[..., SurgeServer],
    synced_app: Callable[..., AppProcess],
    wait_until: Callable[..., Any],
) -> None:
    server = surge_server()
    app = synced_app(server, "py")
    broken = f"{app.app_id}-signup-broken"
    server.send([{"name": "compat/user.signup", "data": {"user_id": f"u{i}"}} for i in range(3)])
    wait_until(
        lambda: [r["status"] for r in runs_of(server, broken)] == ["Failed"] * 3,
        timeout=60,
        what="three failed runs",
    )

    page.goto(f"{server.url}/runs")
    page.select_option("#filter-function", broken)
    page.check('input[name="status"][value="Failed"]')
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("table.runs tbody tr")).to_have_count(3)
    page.click("#bulk-replay")
    expect(page.locator("#bulk-count")).to_have_text("3 runs.")
    expect(page.locator("h1")).to_contain_text(f"Replay the 3 runs of {broken} that ended Failed")
    page.click("#bulk-confirm")
    expect(page.get_by_role("status")).to_contain_text("3 runs to rerun")
    expect(page.locator("#replay-state")).to_have_text("Done.", timeout=60_000)  # it follows
    expect(page.locator("#replay-started")).to_have_text("3 of 3")
    expect(page.locator("#replay-failed")).to_have_text("3")  # the app is still broken
    wait_until(
        lambda: sum(r["original_run_id"] is not None for r in runs_of(server, broken)) == 3,
        timeout=60,
        what="the three replays",
    )

    page.goto(f"{server.url}/runs?function={broken}")
    rows = page.locator("table.runs tbody tr")
    expect(rows).to_have_count(6)
    rows.nth(0).locator('input[name="run"]').check()
    rows.nth(1).locator('input[name="run"]').check()
    page.get_by_role("button", name="Rerun ticked").click()
    expect(page.get_by_role("status")).to_have_text("Reran 2 runs.")
    expect(page).to_have_url(f"{server.url}/runs?function={broken}&notice=Reran+2+runs.")
    wait_until(lambda: len(runs_of(server, broken)) == 8, timeout=60, what="two more reruns")

    sleeper = f"{app.app_id}-cancellable"
    server.send(
        [{"name": "compat/cancellable.start", "data": {"group": f"g{i}"}} for i in range(2)]
    )
    wait_until(lambda: len(runs_of(server, sleeper)) == 2, timeout=30, what="two sleeping runs")
    page.goto(f"{server.url}/runs?function={sleeper}")
    page.click("#bulk-cancel")
    expect(page.locator("#bulk-count")).to_have_text("2 runs.")
    page.click("#bulk-confirm")
    expect(page.get_by_role("status")).to_contain_text("Cancelling them")
    wait_until(
        lambda: [r["status"] for r in runs_of(server, sleeper)] == ["Cancelled"] * 2,
        timeout=60,
        what="both runs cancelled",
    )
