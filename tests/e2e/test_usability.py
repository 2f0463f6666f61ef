"""The dashboard readable and usable (issue 12), in Chromium against a real ``surge dev`` and
the official Python SDK's compat app: times in the viewer's time zone (the runs filter's too),
ids copied with a button, the keyboard's way through a page, and a phone-sized window."""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

if TYPE_CHECKING:
    from conftest import AppProcess, SurgeServer

TOKYO = datetime.timezone(datetime.timedelta(hours=9))
"""Asia/Tokyo keeps no daylight saving time: always UTC+9."""
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def stack(
    surge_server_module: Callable[..., SurgeServer],
    synced_app_module: Callable[..., AppProcess],
) -> tuple[SurgeServer, dict[str, Any]]:
    """A server, the Python compat app synced to it, and one finished run."""
    server = surge_server_module()
    synced_app_module(server, "py")
    (event,) = server.send({"name": "compat/fanout.item", "data": {"item_id": "usable"}})
    (run,) = server.wait_event_runs(event, 1)
    assert run["status"] == "Completed", run
    return server, run


@contextmanager
def opened(browser: Browser, **options: Any) -> Iterator[Page]:
    """A page in a new browser context made with `options` (a time zone, a viewport...)."""
    context = browser.new_context(**options)
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        yield page
    finally:
        context.close()


def started(run: dict[str, Any]) -> datetime.datetime:
    return datetime.datetime.fromisoformat(run["run_started_at"])


def test_times_show_in_the_viewers_time_zone_and_the_filter_reads_it(
    browser: Browser, stack: tuple[SurgeServer, dict[str, Any]]
) -> None:
    server, run = stack
    moment = started(run)
    in_tokyo = moment.astimezone(TOKYO).strftime("%Y-%m-%d %H:%M:%S") + " GMT+9"
    in_utc = moment.strftime("%Y-%m-%d %H:%M:%S UTC")

    with opened(browser, timezone_id="Asia/Tokyo", locale="en-US") as page:
        page.goto(f"{server.url}/runs/{run['run_id']}")
        shown = page.locator("dl.run-facts time").first
        expect(shown).to_have_text(in_tokyo)
        expect(shown).to_have_attribute("title", in_utc)
        page.goto(f"{server.url}/runs")
        row = page.locator(f'tr[data-run="{run["run_id"]}"]')
        expect(row.locator("time")).to_have_text(in_tokyo)

        # The filter's times are Tokyo's too, and the server is sent them in UTC.
        expect(page.locator("form.filters")).to_contain_text("(your time, GMT+9)")
        minute = moment.replace(second=0, microsecond=0)
        before = minute - datetime.timedelta(minutes=1)
        page.fill("#filter-from", before.astimezone(TOKYO).strftime("%Y-%m-%dT%H:%M"))
        page.get_by_role("button", name="Filter").click()
        expect(page).to_have_url(re.compile(r"[?&]from="))
        sent = parse_qs(urlsplit(page.url).query)["from"]
        assert sent == [before.strftime("%Y-%m-%dT%H:%M")], page.url
        expect(row).to_be_visible()
        expect(page.locator("#filter-from")).to_have_value(
            before.astimezone(TOKYO).strftime("%Y-%m-%dT%H:%M")
        )
        after = minute + datetime.timedelta(minutes=1)
        page.fill("#filter-from", after.astimezone(TOKYO).strftime("%Y-%m-%dT%H:%M"))
        page.get_by_role("button", name="Filter").click()
        expect(page.locator("#run-rows .empty")).to_have_text("No run matches.")


def test_a_copy_button_copies_a_run_id_and_says_so(
    browser: Browser, stack: tuple[SurgeServer, dict[str, Any]]
) -> None:
    server, run = stack
    with opened(browser, permissions=["clipboard-read", "clipboard-write"]) as page:
        page.goto(f"{server.url}/runs/{run['run_id']}")
        button = page.get_by_role("button", name=f"Copy run id {run['run_id']}")
        expect(button).to_have_text("Copy")
        button.focus()
        page.keyboard.press("Enter")
        expect(button).to_have_text("Copied")
        assert page.evaluate("navigator.clipboard.readText()") == run["run_id"]
        expect(button).to_have_text("Copy", timeout=5_000)  # ready for the next copy

        function = page.get_by_role("button", name=f"Copy function id {run['function_id']}")
        function.click()
        expect(function).to_have_text("Copied")
        assert page.evaluate("navigator.clipboard.readText()") == run["function_id"]


def overflows(page: Page) -> bool:
    """Whether the page is wider than the window (it scrolls sideways)."""
    wider: bool = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
    return wider


def test_a_phone_sized_window_never_scrolls_sideways_and_tab_starts_at_skip_link(
    browser: Browser, stack: tuple[SurgeServer, dict[str, Any]]
) -> None:
    server, run = stack
    with opened(browser, viewport=PHONE) as page:
        page.goto(f"{server.url}/runs")
        expect(page.locator(f'tr[data-run="{run["run_id"]}"]')).to_be_visible()
        assert not overflows(page)
        # The runs table is wider than a phone: it scrolls in its own box.
        assert page.evaluate(
            "(box => box.scrollWidth > box.clientWidth)(document.querySelector('.table-scroll'))"
        )
        for link in page.locator("header.top nav a").all():  # the nav wraps, all on screen
            box = link.bounding_box()
            assert box is not None and box["x"] + box["width"] <= PHONE["width"], link

        page.keyboard.press("Tab")
        skip = page.get_by_role("link", name="Skip to content")
        expect(skip).to_be_focused()
        box = skip.bounding_box()
        assert box is not None and box["y"] >= 0, box  # seen when focused
        page.keyboard.press("Tab")
        expect(page.get_by_role("link", name="Surge", exact=True)).to_be_focused()
        page.keyboard.press("Tab")
        expect(page.get_by_role("link", name="Runs", exact=True)).to_be_focused()
        # The skip link lands past the header, on the page's own controls.
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Shift+Tab")
        expect(skip).to_be_focused()
        page.keyboard.press("Enter")
        page.keyboard.press("Tab")
        expect(page.locator("#filter-app")).to_be_focused()

        # Rows: a labelled box, then the run's link, by Tab.
        page.locator("#tick-all").focus()
        page.keyboard.press("Tab")
        expect(page.get_by_role("checkbox", name=f"Tick run {run['run_id']}")).to_be_focused()
        page.keyboard.press("Tab")
        link = page.get_by_role("link", name=run["run_id"], exact=True)
        expect(link).to_be_focused()
        page.keyboard.press("Enter")
        expect(page).to_have_url(f"{server.url}/runs/{run['run_id']}")
        expect(page.locator("#run-status")).to_have_text("Completed")
        assert not overflows(page)

    with opened(browser, viewport=LAPTOP) as page:
        for path in ("/runs", f"/runs/{run['run_id']}"):
            page.goto(server.url + path)
            expect(page.locator("main h1")).to_be_visible()
            assert not overflows(page), path


def test_the_live_runs_list_keeps_a_keyboard_users_place(
    page: Page, stack: tuple[SurgeServer, dict[str, Any]]
) -> None:
    """Last in this module: it starts another run."""
    server, run = stack
    page.goto(f"{server.url}/runs?function={run['function_id']}")
    expect(page.locator("#live")).to_have_text("Live.")
    copy = page.get_by_role("button", name=f"Copy run id {run['run_id']}")
    copy.focus()
    (event,) = server.send({"name": "compat/fanout.item", "data": {"item_id": "later"}})
    (later,) = server.wait_event_runs(event, 1)
    shown = page.locator(f'tr[data-run="{later["run_id"]}"] time')  # arrived, and localized
    expect(shown).to_have_attribute("title", re.compile(r" UTC$"))
    expect(copy).to_be_focused()
