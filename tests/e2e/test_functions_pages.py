"""The Functions pages in Chromium against a real ``surge dev`` and the official Python SDK's
compat app: triggers and flow control, pause (events then record skipped runs) and resume,
and an invoke with a payload."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from playwright.sync_api import Page, expect

if TYPE_CHECKING:
    from conftest import AppProcess, SurgeServer


def test_a_function_page_pauses_resumes_and_invokes_it(
    page: Page,
    surge_server: Callable[..., SurgeServer],
    synced_app: Callable[..., AppProcess],
    wait_until: Callable[..., Any],
) -> None:
    server = surge_server()
    app = synced_app(server, "py")
    worker = f"{app.app_id}-fanout-worker"

    page.goto(f"{server.url}/functions")
    listed = server.request("GET", "/dev").json()["functions"]
    expect(page.locator("table.functions tbody tr")).to_have_count(len(listed))
    limited = page.locator(f'tr[data-function="{app.app_id}-limited-worker"]')
    expect(limited).to_contain_text("event compat/limited.item")
    limited.get_by_role("link").click()
    expect(page.locator('ul.flow li[data-option="concurrency"]')).to_contain_text('"limit": 2')

    page.goto(f"{server.url}/functions/{worker}")
    expect(page.locator(".triggers")).to_have_text("event compat/fanout.item")
    expect(page.locator(".state")).to_have_text("active")
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("status")).to_have_text("Paused.")
    expect(page.locator(".state")).to_contain_text("paused since")
    expect(page.locator(".state")).to_contain_text("(by dashboard)")
    (skipped,) = server.send({"name": "compat/fanout.item", "data": {"item_id": "held"}})
    run = wait_until(lambda: (r := server.event_runs(skipped)) and r[0], timeout=30, what="a run")
    assert (run["status"], run["skip_reason"]) == ("Skipped", "paused")
    page.reload()
    expect(page.locator(f'tr[data-run="{run["run_id"]}"]')).to_contain_text("Skipped (paused)")

    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_role("status")).to_have_text("Resumed.")
    expect(page.locator(".state")).to_have_text("active")

    page.fill("#invoke-data", "{not json")
    page.get_by_role("button", name="Invoke").click()
    expect(page.get_by_role("alert")).to_contain_text("the data is not JSON")
    expect(page.locator("#invoke-data")).to_have_value("{not json")
    page.fill("#invoke-data", '{"item_id": "invoked"}')
    page.get_by_role("button", name="Invoke").click()
    expect(page.get_by_role("status")).to_have_text(f"Invoked {worker}.")
    run_id = page.url.rsplit("/", 1)[1].split("?")[0]
    finished = wait_until(
        lambda: (r := server.run(run_id))["status"] == "Completed" and r, timeout=60, what="the run"
    )
    assert finished["output"]["item_id"] == "invoked"
