"""An app written with the Surge SDK, served by uvicorn on loopback, against real ``surge dev``.

``sdk_stack(build)`` starts (once per module) a ``surge dev`` subprocess, makes a
`surge.Surge` client pointed at it, calls ``build(client, ledger)`` for the functions, serves
them from a uvicorn thread and syncs the app with a ``PUT`` as the dev server does. The
`Ledger` counts every step body's executions per run, so "ran exactly once" is checked
against what the user's code did. ``app_stack(make)`` does the same for a client and ASGI
app that ``make(server)`` builds (the docs examples, configured by the environment).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import uvicorn

import surge

if TYPE_CHECKING:
    from conftest import SurgeServer

FINAL = frozenset({"Completed", "Failed", "Cancelled", "Skipped"})


@dataclass
class Ledger:
    """Thread-safe record of step executions: ``runs[run_id][step] = count``."""

    runs: dict[str, dict[str, int]] = field(default_factory=dict)
    notes: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: dict[str, int] = field(default_factory=dict)
    peak: dict[str, int] = field(default_factory=dict)
    stamps: list[float] = field(default_factory=list)
    """When each throttled run's step started (`time.monotonic`)."""

    def count(self, run_id: str, step: str) -> int:
        with self.lock:
            steps = self.runs.setdefault(run_id, {})
            steps[step] = steps.get(step, 0) + 1
            return steps[step]

    def note(self, **entry: Any) -> None:
        with self.lock:
            self.notes.append(entry)

    def enter(self, *groups: str) -> None:
        """A step body of each of `groups` starts; `peak` keeps the most at once."""
        with self.lock:
            for group in groups:
                self.in_flight[group] = self.in_flight.get(group, 0) + 1
                self.peak[group] = max(self.peak.get(group, 0), self.in_flight[group])

    def leave(self, *groups: str) -> None:
        with self.lock:
            for group in groups:
                self.in_flight[group] -= 1


Build = Callable[[surge.Surge, Ledger], Sequence[surge.Function[Any]]]


@dataclass
class Stack:
    server: SurgeServer
    client: surge.Surge
    ledger: Ledger
    serve_url: str
    uvicorn_server: uvicorn.Server
    thread: threading.Thread

    def sync(self) -> httpx.Response:
        return httpx.put(
            self.serve_url,
            json={"url": self.serve_url},
            headers={"X-Inngest-Server-Kind": "dev"},
            timeout=30,
        )

    def send(self, events: Any) -> list[str]:
        return self.client.send_sync(events)

    def runs_of(self, event_id: str, count: int, timeout: float = 60.0) -> list[dict[str, Any]]:
        return self.server.wait_event_runs(event_id, count, timeout=timeout)

    def run_of(self, event_id: str, slug: str, timeout: float = 60.0) -> dict[str, Any]:
        """The finished run of function `slug` (``app-fn``) triggered by `event_id`."""
        deadline = time.monotonic() + timeout
        while True:
            runs = [r for r in self.server.event_runs(event_id) if r["function_id"] == slug]
            if runs and runs[0]["status"] in FINAL:
                return runs[0]
            if time.monotonic() > deadline:
                pytest.fail(f"no finished run of {slug} for event {event_id}: {runs}")
            time.sleep(0.1)

    def close(self) -> None:
        self.uvicorn_server.should_exit = True
        self.thread.join(timeout=10)
        self.client.close()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _serve(app: Any) -> tuple[uvicorn.Server, threading.Thread, int]:
    port = _free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start the SDK app")
        time.sleep(0.02)
    return server, thread, port


def _start(
    server: SurgeServer, client: surge.Surge, ledger: Ledger, app: Any, stacks: list[Stack]
) -> Stack:
    uv, thread, port = _serve(app)
    stack = Stack(server, client, ledger, f"http://127.0.0.1:{port}/api/inngest", uv, thread)
    stacks.append(stack)
    reply = stack.sync()
    assert reply.status_code == 200, reply.text
    return stack


@pytest.fixture(scope="module")
def sdk_stack(
    surge_server_module: Callable[..., SurgeServer],
) -> Iterator[Callable[[Build], Stack]]:
    stacks: list[Stack] = []

    def start(build: Build, app_id: str = "shop", **options: Any) -> Stack:
        server = surge_server_module()
        client = surge.Surge(
            app_id=app_id,
            mode="dev",
            api_origin=server.url,
            event_api_origin=server.url,
            **options,
        )
        ledger = Ledger()
        functions = build(client, ledger)
        return _start(server, client, ledger, surge.asgi_app(client, functions), stacks)

    try:
        yield start
    finally:
        for stack in stacks:
            stack.close()


Make = Callable[["SurgeServer"], tuple[surge.Surge, Any]]


@pytest.fixture(scope="module")
def app_stack(
    surge_server_module: Callable[..., SurgeServer],
) -> Iterator[Callable[[Make], Stack]]:
    """Like ``sdk_stack`` for an app built elsewhere: ``make(server)`` answers its client and
    ASGI app (each call gets its own ``surge dev``)."""
    stacks: list[Stack] = []

    def start(make: Make) -> Stack:
        server = surge_server_module()
        client, app = make(server)
        return _start(server, client, Ledger(), app, stacks)

    try:
        yield start
    finally:
        for stack in stacks:
            stack.close()
