"""The function page's chart of its runs in Chromium, against a real ``surge dev`` and the
official Python SDK's compat app: a run that completed and one that failed (its app gone),
counted in the bars, the summary and the table, in the viewer's time zone."""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from playwright.sync_api import Browser, expect

if TYPE_CHECKING:
    from conftest import AppProcess, SurgeServer

ZONE = "Asia/Kolkata"  # UTC+5:30: whole UTC hours are half past here
CREATE_APP = "mutation($url: String!) { createApp(input: {url: $url}) { id } }"


def test_a_function_page_charts_its_completed_and_failed_runs(
    browser: Browser,
    surge_server: Callable[..., SurgeServer],
    app_process: Callable[..., AppProcess],
    wait_until: Callable[..., Any],
) -> None:
    server = surge_server()
    app = app_process("py", server)
    variables = {"url": app.serve_url}
    server.request("POST", "/v0/gql", json={"query": CREATE_APP, "variables": variables})
    worker = f"{app.app_id}-fanout-worker"
    wait_until(lambda: worker in server.function_slugs(), timeout=30, what="the sync")
    [done] = server.send({"name": "compat/fanout.item", "data": {"item_id": "fine"}})
    assert server.wait_event_runs(done, 1)[0]["status"] == "Completed"
    app.stop()  # the app is gone: the next run's calls fail until its retries run out
    [lost] = server.send({"name": "compat/fanout.item", "data": {"item_id": "lost"}})
    assert server.wait_event_runs(lost, 1)[0]["status"] == "Failed"

    context = browser.new_context(timezone_id=ZONE, locale="en-GB")
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{server.url}/functions/{worker}")

        summary = page.locator(".chart-summary")
        expect(summary).to_contain_text("2 started · 1 completed · 1 failed · 0 cancelled")
        expect(summary).to_contain_text("failure rate 50% (1 of 2 that ended)")
        counted = page.evaluate(
            """() => Object.fromEntries(['completed', 'failed'].map((status) => [status,
                 Array.from(document.querySelectorAll(`svg.run-chart rect.${status}`))
                   .reduce((sum, rect) => sum + Number(rect.dataset.count), 0)]))"""
        )
        assert counted == {"completed": 1, "failed": 1}
        bars = page.locator("svg.run-chart a.bar")
        labels = [bars.nth(i).locator("title").text_content() or "" for i in range(bars.count())]
        assert "1 completed" in " ".join(labels) and "1 failed" in " ".join(labels), labels
        assert not any("UTC" in label for label in labels), labels  # in the viewer's zone
        # A bar's title is its name: a link to its runs, read out with its numbers.
        failed_bar = page.get_by_role("link", name=re.compile(r"started \(.*1 failed"))
        expect(failed_bar.first).to_have_attribute(
            "href", re.compile(rf"^/runs\?function={worker}&from=")
        )

        # The axis reads in the viewer's zone; the note says so.
        expect(page.locator(".chart-zone")).to_contain_text("your time zone")
        x_labels = page.locator("svg.run-chart text.x-label")
        expect(x_labels.first).not_to_have_text("")
        for i in range(x_labels.count()):
            label = x_labels.nth(i)
            at = datetime.datetime.fromisoformat((label.get_attribute("data-at") or "")[:-1])
            local = at.replace(tzinfo=datetime.UTC).astimezone(ZoneInfo(ZONE))
            expect(label).to_have_text(local.strftime("%H:%M"))

        page.get_by_text("The numbers, span by span").click()
        total = page.locator("details.chart-table tr.total")
        expect(total.locator("td.started")).to_have_text("2")
        expect(total.locator("td.completed")).to_have_text("1")
        expect(total.locator("td.failed")).to_have_text("1")
        expect(total.locator("td.rate")).to_have_text("50%")

        page.get_by_role("link", name="1h", exact=True).click()
        expect(page.locator("#runs-chart-title")).to_have_text("Runs started in the last hour")
        expect(summary).to_contain_text("2 started")

        # On a phone the chart shrinks to the window: the page never scrolls sideways.
        page.set_viewport_size({"width": 390, "height": 844})
        page.reload()
        chart = page.locator("svg.run-chart").bounding_box()
        assert chart is not None and chart["width"] <= 390, chart
        assert not page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
    finally:
        context.close()
