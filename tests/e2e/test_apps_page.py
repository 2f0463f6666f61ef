"""The Apps page (``/apps``): what synced, from where, with which SDK; adding an app by URL,
a resync, and sync errors in plain words — in Chromium, against a real ``surge dev``."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx
from playwright.sync_api import Page, expect

if TYPE_CHECKING:
    from conftest import AppProcess, SurgeServer

SIGNING_KEY = "signkey-test-" + "ab" * 32


def test_the_apps_page_syncs_an_app_by_url_shows_it_and_resyncs_it(
    page: Page,
    surge_server: Callable[..., SurgeServer],
    app_process: Callable[..., AppProcess],
) -> None:
    server = surge_server()
    app = app_process("py", server)

    page.goto(server.url)  # the address `make dev` prints: the runs, with Apps beside them
    page.get_by_role("link", name="Apps").click()
    expect(page).to_have_url(f"{server.url}/apps")
    expect(page.locator(".empty")).to_contain_text("No app has synced yet")
    expect(page.locator(".connect pre")).to_contain_text(f"export INNGEST_DEV={server.url}")

    page.fill("#app-url", "http://127.0.0.1:9/api/inngest")
    page.click("form.add-app button")
    expect(page.get_by_role("alert")).to_contain_text("did not sync")
    expect(page.locator("#app-url")).to_have_value("http://127.0.0.1:9/api/inngest")

    page.fill("#app-url", app.serve_url)
    page.click("form.add-app button")
    expect(page.get_by_role("status")).to_have_text(f"App {app.app_id} synced.")
    section = page.locator(f'section.app[data-app="{app.app_id}"]')
    expect(section.locator(".url")).to_have_text(app.serve_url)
    expect(section.locator(".sdk")).to_contain_text("py:v0.5.19")
    synced = section.locator(".synced time")  # in the browser's time zone, UTC as its title
    expect(synced).to_have_text(re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+"))
    expect(synced).to_have_attribute("title", re.compile(r"\d\d:\d\d:\d\d UTC$"))
    worker = section.locator(f'li[data-function="{app.app_id}-fanout-worker"]')
    expect(worker).to_contain_text("fanout-worker")
    listed = server.request("GET", "/dev").json()["functions"]
    expect(section.locator("ul.functions li")).to_have_count(len(listed))

    # Paused functions say so; a resync keeps the app and says it synced.
    resp = server.request("POST", f"/v1/functions/{app.app_id}-fanout-worker/pause")
    assert resp.status_code == 200, resp.text
    page.goto(f"{server.url}/apps")
    expect(worker.locator(".tag")).to_have_text("paused")
    section.get_by_role("button", name="Resync").click()
    expect(page.get_by_role("status")).to_have_text(f"App {app.app_id} synced.")
    expect(page).to_have_url(re.compile(r"/apps\?synced="))


def test_on_surge_start_the_pages_need_a_login_or_the_signing_key(
    surge_server: Callable[..., SurgeServer],
) -> None:
    server = surge_server(signing_key=SIGNING_KEY)

    resp = httpx.get(f"{server.url}/apps")
    assert resp.status_code == 303 and resp.headers["location"] == "/login?next=%2Fapps"
    allowed = httpx.get(f"{server.url}/apps", headers={"Authorization": f"Bearer {SIGNING_KEY}"})
    assert allowed.status_code == 200 and "<h1>Apps</h1>" in allowed.text
    assert 'action="/apps"' not in allowed.text  # adding apps by URL is for surge dev
