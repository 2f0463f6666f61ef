"""`make screenshots`: a screenshot of each dashboard page, into docs/screenshots/.

Starts a real `surge dev` on a free port with a fresh SQLite database, serves the example app
(`examples/signup_app.py`) and syncs it, sends a few `app/user.signup` events (one without an
email, so some of its runs fail), invokes the weekly digest orchestrator (a run that fans out
25 child runs), waits until every run has ended, and captures each page in Debian's Chromium
at 1280x800 (the whole page, cut at two screens' height), plus `/runs` at a phone's 390x844.
The login page is captured from a second server, `surge start`, which asks for a password.
Every process is stopped at the end, also when something fails.

Run it: `.venv/bin/python scripts/screenshots.py` (Chromium: `apt-get install chromium`; the
browser is the system's, as in tests/e2e, since `playwright install` cannot download here).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, FloatRect, Page, ViewportSize, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
BIN = Path(sys.executable).parent
CHROMIUM = os.environ.get("SURGE_TEST_CHROMIUM", "/usr/bin/chromium")
APP = "signup-flow"
WIDE: ViewportSize = {"width": 1280, "height": 800}
NARROW: ViewportSize = {"width": 390, "height": 844}
SIGNUPS = [
    {"user_id": "u-1001", "email": "ada@example.com", "plan": "pro"},
    {"user_id": "u-1002", "email": "grace@example.com", "plan": "free"},
    {"user_id": "u-1003", "email": "edsger@example.com", "plan": "team"},
    {"user_id": "u-1004", "plan": "free"},  # no email: the functions that read it fail
]
STEPS = "[data-step], .step"  # a run page's steps
FINAL = {"Completed", "Failed", "Cancelled", "Skipped"}


def say(text: str) -> None:
    sys.stdout.write(f"{text}\n")
    sys.stdout.flush()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """`check()`'s first truthy result, polled until `timeout`; an HTTP error counts as no."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with contextlib.suppress(httpx.HTTPError):
            if found := check():
                return found
        time.sleep(0.25)
    raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")


class Processes:
    """The servers this script starts, each logging to a file; all stopped by `stop_all`."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.running: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, **kwargs)
        self.running.append((name, process))
        return process

    def up(self, name: str, url: str) -> None:
        """Wait until `url` answers 200, failing at once if the process `name` exited."""
        process = dict(self.running)[name]

        def answers() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited:\n{self.tail(name)}")
            return httpx.get(url, timeout=2.0).status_code == 200

        wait_until(answers, f"{name} at {url}", timeout=30.0)

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.logs / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop_all(self) -> None:
        for _, process in self.running:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for _, process in self.running:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def seed(surge: str, app_url: str) -> dict[str, str]:
    """Sync the example app and give it work; the ids of the pages worth a picture."""
    query = "mutation ($url: String!) { createApp(input: {url: $url}) { id } }"
    reply = httpx.post(
        f"{surge}/v0/gql", json={"query": query, "variables": {"url": app_url}}, timeout=30
    ).json()
    if reply.get("errors"):
        raise RuntimeError(f"syncing {app_url} failed: {reply['errors']}")
    functions = wait_until(
        lambda: httpx.get(f"{surge}/dev", timeout=5).json()["functions"], "the app's functions"
    )
    slugs = {f["slug"] for f in functions}
    orchestrator, function = f"{APP}-weekly-digest-orchestrator", f"{APP}-start-stripe-trial"
    if not {orchestrator, function} <= slugs:
        raise RuntimeError(f"the example app synced {sorted(slugs)}, not {orchestrator}")

    # The dashboard's own Invoke button (no Origin header, so the same-site check passes).
    # First, so that the signups' runs (some failed) head the lists, which show newest first.
    invoked = httpx.post(
        f"{surge}/functions/{orchestrator}/invoke", data={"data": "{}"}, timeout=30
    )
    location = invoked.headers.get("location", "")
    if invoked.status_code != 303 or not location.startswith("/runs/"):
        raise RuntimeError(f"invoking {orchestrator} failed: {invoked.status_code}")
    orchestrator_run = location.split("?")[0].removeprefix("/runs/")
    wait_for_runs(surge, 1 + 25)  # the orchestrator and its 25 digests

    sent = httpx.post(
        f"{surge}/e/dev",
        json=[{"name": "app/user.signup", "data": data} for data in SIGNUPS],
        timeout=30,
    ).json()
    runs = wait_for_runs(surge, 1 + 25 + len(SIGNUPS) * 4)  # 4 functions a signup
    failed = [r for r in runs if r["status"] == "Failed"]
    if not failed:
        raise RuntimeError("no run failed: has the example app changed?")
    welcome = [r for r in failed if r["function_id"] == f"{APP}-send-welcome-email"]
    return {
        "event": sent["ids"][-1],  # the signup without an email: some of its runs failed
        "orchestrator_run": orchestrator_run,
        "failed_run": (welcome or failed)[0]["run_id"],
        "function": function,
    }


def wait_for_runs(surge: str, count: int) -> list[dict[str, Any]]:
    """The runs, once there are `count` and every one has ended."""

    def all_ended() -> list[dict[str, Any]] | None:
        runs = httpx.get(f"{surge}/v1/runs", params={"limit": 1000}, timeout=10).json()["data"]
        if len(runs) >= count and all(run["status"] in FINAL for run in runs):
            return list(runs)
        return None

    found: list[dict[str, Any]] = wait_until(all_ended, f"{count} runs to end", timeout=120.0)
    return found


def capture(page: Page, url: str, name: str, wait_for: str) -> None:
    """`url`'s whole page once `wait_for` shows, cut at two screens' height: a long list
    shows its first screens, which keeps the PNGs small."""
    page.goto(url)
    page.wait_for_selector(wait_for, state="visible")
    page.evaluate("document.fonts.ready.then(() => true)")
    viewport = page.viewport_size or WIDE
    height = min(page.evaluate("document.documentElement.scrollHeight"), 2 * viewport["height"])
    path = OUT / f"{name}.png"
    clip: FloatRect = {"x": 0, "y": 0, "width": viewport["width"], "height": height}
    page.screenshot(path=str(path), full_page=True, clip=clip, animations="disabled")
    say(f"  {path.relative_to(ROOT)}  ({path.stat().st_size // 1024} KiB)  {url}")


@contextlib.contextmanager
def browser() -> Iterator[Browser]:
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            yield chromium
        finally:
            chromium.close()


def new_page(chromium: Browser, viewport: ViewportSize) -> Page:
    context = chromium.new_context(
        viewport=viewport,
        device_scale_factor=1,
        timezone_id="UTC",
        locale="en-US",
        color_scheme="light",
        reduced_motion="reduce",
    )
    page = context.new_page()
    page.set_default_timeout(20_000)
    return page


def shoot(surge: str, login_server: str, ids: dict[str, str]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rows = "table tbody tr"
    with browser() as chromium:
        page = new_page(chromium, WIDE)
        capture(page, f"{surge}/runs", "runs", rows)
        capture(page, f"{surge}/runs/{ids['orchestrator_run']}", "run", STEPS)
        capture(page, f"{surge}/runs/{ids['failed_run']}", "run-failed", STEPS)
        capture(page, f"{surge}/events", "events", rows)
        capture(page, f"{surge}/events/{ids['event']}", "event", rows)
        capture(page, f"{surge}/events/send", "send-event", "textarea")
        capture(page, f"{surge}/functions", "functions", rows)
        capture(page, f"{surge}/functions/{ids['function']}", "function", "tr[data-run]")
        capture(page, f"{surge}/apps", "apps", "section.app")
        capture(page, f"{login_server}/login", "login", "input[type=password]")
        page.context.close()

        phone = new_page(chromium, NARROW)
        capture(phone, f"{surge}/runs", "runs-narrow", rows)
        phone.context.close()


def main() -> None:
    if shutil.which(CHROMIUM) is None:
        sys.exit(f"no Chromium at {CHROMIUM}: apt-get install chromium")
    with tempfile.TemporaryDirectory(prefix="surge-screenshots-") as tmp:
        work = Path(tmp)
        processes = Processes(work)
        surge = f"http://127.0.0.1:{free_port()}"
        app_port = free_port()
        app_url = f"http://127.0.0.1:{app_port}/api/inngest"
        login_server = f"http://127.0.0.1:{free_port()}"
        # The servers take their options from these flags alone, not from the caller's shell.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SURGE_", "INNGEST_"))}
        try:
            processes.start(
                "surge-dev",
                [
                    str(BIN / "surge"),
                    "dev",
                    "--no-discovery",
                    "--no-poll",
                    "--retry-interval",
                    "0.2",  # the failing runs use up their retries in a moment
                    "--port",
                    surge.rsplit(":", 1)[1],
                    "--db",
                    str(work / "surge.db"),
                ],
                cwd=work,
                env=env,
            )
            processes.start(
                "example-app",
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "signup_app:app",
                    "--port",
                    str(app_port),
                    "--log-level",
                    "warning",
                ],
                cwd=ROOT / "examples",
                env={**env, "SURGE_DEV": surge},
            )
            processes.start(
                "surge-start",
                [
                    str(BIN / "surge"),
                    "start",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    login_server.rsplit(":", 1)[1],
                    "--db",
                    str(work / "start.db"),
                    "--signing-key",
                    f"signkey-prod-{secrets.token_hex(32)}",
                ],
                cwd=work,
                env={**env, "SURGE_DASHBOARD_PASSWORD": secrets.token_urlsafe(18)},
            )
            processes.up("surge-dev", f"{surge}/health")
            processes.up("example-app", app_url)
            processes.up("surge-start", f"{login_server}/health")
            say(f"surge dev at {surge}, the example app at {app_url}")
            ids = seed(surge, app_url)
            say("every run has ended; capturing:")
            shoot(surge, login_server, ids)
        except BaseException:
            for name, _ in processes.running:
                sys.stderr.write(f"--- the end of {name}'s log ---\n{processes.tail(name)}\n")
            raise
        finally:
            processes.stop_all()


if __name__ == "__main__":
    main()
