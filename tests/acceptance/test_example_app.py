"""The example app `make dev` runs (Surge SDK) works end to end on `surge dev`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from conftest import SurgeServer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_signup_event_fans_out_to_four_completed_runs(
    surge_server: Callable[..., SurgeServer], tmp_path: Path
) -> None:
    server = surge_server()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SURGE_", "INNGEST_"))}
    env["SURGE_DEV"] = server.url
    log = (tmp_path / "example.log").open("w")
    app = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "signup_app:app", "--port", str(port)],
        cwd=EXAMPLES,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        serve_url = f"http://127.0.0.1:{port}/api/inngest"
        deadline = time.monotonic() + 30
        while True:
            try:
                synced = httpx.put(serve_url, json={"url": serve_url}, timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, (tmp_path / "example.log").read_text()
                time.sleep(0.2)
        assert synced.status_code == 200, synced.text

        [event_id] = server.send(
            {"name": "app/user.signup", "data": {"user_id": "u1", "email": "ada@example.com"}}
        )
        runs = server.wait_event_runs(event_id, 4, timeout=60)
    finally:
        app.terminate()
        app.wait(timeout=10)
        log.close()

    outputs = {run["function_id"]: (run["status"], run["output"]) for run in runs}
    assert outputs == {
        "signup-flow-send-welcome-email": (
            "Completed",
            {"result": "welcome email sent to ada@example.com"},
        ),
        "signup-flow-start-stripe-trial": (
            "Completed",
            {"customer": "cus_u1", "subscription": "sub_for_cus_u1"},
        ),
        "signup-flow-add-to-crm": ("Completed", {"email": "ada@example.com"}),
        "signup-flow-notify-team-slack": ("Completed", "New signup: ada@example.com"),
    }
