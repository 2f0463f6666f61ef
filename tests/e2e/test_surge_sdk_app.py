"""A Surge-SDK app in Chromium against a real ``surge dev``: synced from the Apps page, its
static fan-out appearing live on the Runs page, and, after the app is fixed and restarted,
its failed runs replayed in bulk and seen to complete."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from playwright.sync_api import Page, expect

if TYPE_CHECKING:
    from conftest import SurgeServer

SHOP_APP = Path(__file__).parent / "apps" / "shop_app.py"
FUNCTIONS = ("shop-send-welcome", "shop-start-trial", "shop-charge-card")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def shop_app(
    port: int, server: SurgeServer, log: Path, wait_until: Callable[..., Any], *, broken: bool
) -> Iterator[str]:
    """The shop app serving on `port` until the block ends; yields its serve URL."""
    argv = [sys.executable, str(SHOP_APP), str(port), server.url, *(["--broken"] * broken)]
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/api/inngest"

    def up() -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(url, timeout=1.0).status_code < 500
        return proc.poll() is not None  # exited: fail below, not by timeout

    try:
        wait_until(up, timeout=30, what="the shop app to serve")
        assert proc.poll() is None, log.read_text()
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def statuses(server: SurgeServer, function: str) -> list[str]:
    runs = server.request("GET", "/v1/runs", params={"function_id": function}).json()["data"]
    return sorted(run["status"] for run in runs)


def test_a_surge_sdk_apps_fan_out_shows_live_and_its_failures_replay_once_fixed(
    page: Page,
    surge_server: Callable[..., SurgeServer],
    wait_until: Callable[..., Any],
    tmp_path: Path,
) -> None:
    server = surge_server()
    port, log = free_port(), tmp_path / "shop.log"

    with shop_app(port, server, log, wait_until, broken=True) as url:
        page.goto(f"{server.url}/apps")
        page.fill("#app-url", url)
        page.click("form.add-app button")
        expect(page.get_by_role("status")).to_have_text("App shop synced.")
        section = page.locator('section.app[data-app="shop"]')
        expect(section.locator(".sdk")).to_contain_text("surge-py:v")
        for slug in FUNCTIONS:
            expect(section.locator(f'li[data-function="{slug}"]')).to_be_visible()

        # One signup, three runs: they appear on the open Runs page with no reload.
        page.get_by_role("link", name="Runs").click()
        expect(page.locator("#live")).to_have_text("Live.")
        server.send([{"name": "shop/user.signup", "data": {"user_id": f"u{i}"}} for i in range(2)])
        rows = page.locator("#run-rows tr[data-run]")
        expect(rows).to_have_count(6)
        expect(rows.filter(has_text="Failed")).to_have_count(2)
        expect(rows.filter(has_text="Completed")).to_have_count(4)

        # A failed run says why: the step's error by name and message, with its stack; a
        # completed step's bar shows its queue time and its run time.
        rows.filter(has_text="shop-charge-card").first.locator("a").first.click()
        charge = page.locator('li.step[data-step="charge"]')
        expect(charge.locator(".step-error-title")).to_have_text(
            "RuntimeError: card processor URL is misconfigured"
        )
        expect(charge.locator("pre.step-error")).to_contain_text("in charge")
        expect(page.locator(".run-error")).to_contain_text("card processor URL is misconfigured")
        expect(charge.locator(".bar.failed")).to_be_visible()

    # The fix is deployed: the app starts again, on the same URL, without the bug.
    with shop_app(port, server, log, wait_until, broken=False):
        page.goto(f"{server.url}/runs?function=shop-charge-card&status=Failed")
        expect(page.locator("#run-rows tr[data-run]")).to_have_count(2)
        page.click("#bulk-replay")
        expect(page.locator("#bulk-count")).to_have_text("2 runs.")
        page.click("#bulk-confirm")
        expect(page.get_by_role("status")).to_contain_text("2 runs to rerun")
        expect(page.locator("#replay-state")).to_have_text("Done.", timeout=60_000)
        expect(page.locator("#replay-completed")).to_have_text("2")  # fixed: they complete

        page.goto(f"{server.url}/runs?function=shop-charge-card")
        rows = page.locator("#run-rows tr[data-run]")
        expect(rows.filter(has_text="Completed")).to_have_count(2, timeout=60_000)
        expect(rows.filter(has_text="Failed")).to_have_count(2)  # the originals stay as they were
        assert statuses(server, "shop-charge-card") == ["Completed"] * 2 + ["Failed"] * 2
