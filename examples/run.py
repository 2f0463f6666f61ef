"""`make dev`: Surge on SQLite plus the example app, with a first event sent.

Starts `surge dev` (http://127.0.0.1:8288, database `.surge/dev.db`) and the example app
(http://127.0.0.1:8000/api/inngest), waits until the app has synced, sends one
`app/user.signup` event, and keeps both running until Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
SURGE = "http://127.0.0.1:8288"
APP_PORT = 8000


def wait_for(check: str, what: str, deadline: float = 30.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            if httpx.get(check, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    sys.exit(f"{what} did not come up within {deadline:g} s")


def wait_for_sync(deadline: float = 30.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if httpx.get(f"{SURGE}/dev", timeout=2.0).json()["functions"]:
            return
        time.sleep(0.3)
    sys.exit("the example app did not sync; see the output above")


def main() -> None:
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "SURGE_DEV": SURGE}
    app = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "signup_app:app",
            "--port",
            str(APP_PORT),
            "--log-level",
            "warning",
        ],
        cwd=ROOT / "examples",
        env=env,
    )
    server = subprocess.Popen(
        [
            bin_dir / "surge",
            "dev",
            "-u",
            f"http://127.0.0.1:{APP_PORT}/api/inngest",
            "--no-discovery",
        ],
        cwd=ROOT,
    )
    try:
        wait_for(f"{SURGE}/health", "surge dev")
        wait_for(f"http://127.0.0.1:{APP_PORT}/api/inngest", "the example app")
        wait_for_sync()
        reply = httpx.post(
            f"{SURGE}/e/dev",
            json={"name": "app/user.signup", "data": {"user_id": "u1", "email": "ada@example.com"}},
        ).json()
        event_id = reply["ids"][0]
        print(
            f"\nSurge is running at {SURGE} with the example app synced.\n"
            f"Sent app/user.signup; its runs: {SURGE}/v1/events/{event_id}/runs\n"
            f"Send another: curl -X POST {SURGE}/e/dev -d "
            """'{"name":"app/user.signup","data":{"user_id":"u2","email":"bo@example.com"}}'\n"""
            "Ctrl-C stops both.\n",
            flush=True,
        )
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for process in (server, app):
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in (server, app):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    main()
