"""The dashboard in a real headless browser: Debian's Chromium driven by Playwright.

`playwright install` downloads browsers from outside and cannot run here, so the browser is
the system's (`/usr/bin/chromium`, which `.ci/run` installs), launched with ``--no-sandbox``
when the tests run as root (Chromium refuses its sandbox to root).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

if TYPE_CHECKING:
    from conftest import AppProcess, SurgeServer

CHROMIUM = os.environ.get("SURGE_TEST_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per test module. Not per session: Playwright's sync API keeps an event
    loop marked running in this thread while it is open, and the async tests that run after
    the e2e ones need the thread's loop for themselves."""
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"no Chromium at {CHROMIUM}: install Debian's chromium (.ci/run does)")
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        yield page
    finally:
        context.close()


CREATE_APP = "mutation($url: String!) { createApp(input: {url: $url}) { id } }"


def sync(server: SurgeServer, app: AppProcess) -> AppProcess:
    """Sync `app` with `server` as the dashboard's add-app form does (GraphQL createApp)."""
    variables = {"url": app.serve_url}
    resp = server.request("POST", "/v0/gql", json={"query": CREATE_APP, "variables": variables})
    assert resp.json()["data"]["createApp"]["id"] == app.app_id, resp.text
    return app


@pytest.fixture
def synced_app(
    app_process: Callable[..., AppProcess],
) -> Callable[[SurgeServer, str], AppProcess]:
    """Factory: ``synced_app(server, "py")``: a compat app started and synced with `server`."""
    return lambda server, kind="py": sync(server, app_process(kind, server))


@pytest.fixture(scope="module")
def synced_app_module(
    app_process_module: Callable[..., AppProcess],
) -> Callable[[SurgeServer, str], AppProcess]:
    """`synced_app`, for servers shared by a test module."""
    return lambda server, kind="py": sync(server, app_process_module(kind, server))
