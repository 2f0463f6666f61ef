"""The Events pages in Chromium against a real ``surge dev`` and the official Python SDK's
compat app: the send-event form (checked as typed, and by the server), an event's payload,
runs and sender, a resend, and the list with a CEL search."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from playwright.sync_api import Page, expect

if TYPE_CHECKING:
    from conftest import AppProcess, SurgeServer


def test_events_are_sent_from_the_form_shown_with_their_runs_resent_and_searched(
    page: Page,
    surge_server: Callable[..., SurgeServer],
    synced_app: Callable[..., AppProcess],
    wait_until: Callable[..., Any],
) -> None:
    server = surge_server()
    app = synced_app(server, "py")

    page.goto(f"{server.url}/events")
    page.get_by_role("link", name="Send an event").click()
    send = page.get_by_role("button", name="Send")
    page.fill("#event-body", '{"name": ')
    expect(page.locator("#json-check")).to_contain_text("Not JSON yet")
    expect(send).to_be_disabled()
    page.fill("#event-body", '{"data": {}}')
    expect(page.locator("#json-check")).to_have_text("Each event needs a name.")
    # What only the server knows to refuse: said, and nothing stored.
    page.fill("#event-body", '{"name": "compat/fanout.item", "data": [1]}')
    expect(send).to_be_enabled()
    send.click()
    expect(page.get_by_role("alert")).to_contain_text("data")
    assert server.request("GET", "/v1/events").json()["data"] == []

    page.fill("#event-body", '{"name": "compat/fanout.item", "data": {"item_id": "form"}}')
    send.click()
    expect(page.get_by_role("status")).to_have_text("Sent 1 event.")
    expect(page.locator("pre.payload")).to_contain_text('"item_id": "form"')
    runs = page.locator("table.runs tbody tr")
    expect(runs).to_have_count(1)
    expect(runs).to_contain_text(f"{app.app_id}-fanout-worker")
    first = page.url.rsplit("/", 1)[1].split("?")[0]

    page.get_by_role("button", name="Send again").click()
    expect(page.get_by_role("status")).to_contain_text("Sent again as")
    again = page.url.rsplit("/", 1)[1].split("?")[0]
    assert again != first
    expect(page.locator("table.runs tbody tr")).to_have_count(1)

    # A child event names the run that sent it.
    (start,) = server.send({"name": "compat/fanout.start", "data": {"count": 1}})
    [orchestrator] = wait_until(lambda: server.event_runs(start), timeout=30, what="a run")
    child = wait_until(
        lambda: server.request(
            "GET", "/v1/events", params={"source_run_id": orchestrator["run_id"]}
        ).json()["data"],
        timeout=60,
        what="the child event",
    )[0]
    page.goto(f"{server.url}/events/{child['internal_id']}")
    expect(page.locator("a.sender")).to_have_text(orchestrator["run_id"])

    # Surge's own events (runs finished...) only when asked for.
    wait_until(lambda: server.wait_run(orchestrator["run_id"]), timeout=60, what="its end")
    page.goto(f"{server.url}/events")
    names = page.locator("table.events tbody tr td:nth-child(2)")
    expect(names.first).to_be_visible()
    assert not any(n.startswith("inngest/") for n in names.all_inner_texts())
    page.check("#filter-internal")
    page.get_by_role("button", name="Search").click()
    expect(names.filter(has_text="inngest/function.finished").first).to_be_visible()
    page.uncheck("#filter-internal")

    page.fill("#filter-name", "compat/fanout.item")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("table.events tbody tr")).to_have_count(3)
    page.fill("#filter-if", 'event.data.item_id == "form"')
    page.get_by_role("button", name="Search").click()
    rows = page.locator("table.events tbody tr")
    expect(rows).to_have_count(2)  # the form's event and its resend
    page.fill("#filter-if", "event.data.item_id ==")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("alert")).to_be_visible()
