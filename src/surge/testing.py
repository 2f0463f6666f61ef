"""Testing Surge functions: in process with no server, or against a real ``surge dev``.

In process, `run` plays the server's part: it calls the function, stores each step's
result, resolves sleeps at once, answers waits and invokes from what the test supplies, and
retries failing steps without delay::

    result = surge.testing.run(welcome, {"name": "app/user.signup", "data": {"id": "u1"}},
                               steps={"fetch-user": {"id": "u1", "email": "a@b.c"}})
    assert result.output == {...}
    assert result.step_ids == ["fetch-user", "send-email"]

`steps` maps a step id (``"id:1"`` for its second use) to a result to use instead of running
the step; a `StepError` there makes the step fail for good. `waits` maps a
``wait_for_event`` step id to the event it receives (``None``: it times out, the default);
`invokes` maps an ``invoke`` step id to the invoked function's result (or a `StepError`).

For integration tests, `dev_server()` starts ``surge dev`` on a free port (the server extra
must be installed), and the ``surge_dev_server`` pytest fixture wraps it (enable it with
``pytest_plugins = ["surge.testing"]``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from surge.core.ids import hash_step_id
from surge.core.run_errors import StepError
from surge.sdk._event import Event
from surge.sdk._execution import Call, Outcome, run_async, run_sync
from surge.sdk._function import Function
from surge.sdk._run import error_value

__all__ = ["DevServer", "StepRecord", "TestRun", "dev_server", "run", "run_async_fn"]

_LOGGER = logging.getLogger("surge.testing")


@dataclass(frozen=True, kw_only=True, slots=True)
class StepRecord:
    """One step the run took: its id, opcode, and result or error."""

    id: str
    op: str
    data: Any = None
    error: Any = None


@dataclass(kw_only=True)
class TestRun:
    """The outcome of `run`.

    Attributes:
        status: ``"Completed"`` or ``"Failed"``.
        output: The function's result as JSON data (``None`` when it failed).
        error: The error as ``{name, message, stack, code}`` when it failed.
        steps: The steps taken, in order.
        sent_events: Events sent with ``step.send_event``.
        calls: How many calls the function got.
    """

    __test__ = False  # not a pytest test class

    status: str = "Completed"
    output: Any = None
    error: Any = None
    steps: list[StepRecord] = field(default_factory=list)
    sent_events: list[dict[str, Any]] = field(default_factory=list)
    calls: int = 0

    @property
    def step_ids(self) -> list[str]:
        return [step.id for step in self.steps]


def _memo(value: Any) -> Any:
    if isinstance(value, StepError):
        return {"error": error_value(value)}
    return {"data": orjson.loads(orjson.dumps(value, default=_model))}


def _model(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if dump is None:
        raise TypeError(f"cannot encode {type(value).__name__}")
    return dump(mode="json")


def _wire_event(event: Event[Any] | Mapping[str, Any] | None) -> dict[str, Any]:
    if event is None:
        return {"name": "test/event", "data": {}, "ts": int(time.time() * 1000), "user": {}}
    wire = event.to_wire() if isinstance(event, Event) else dict(event)
    wire.setdefault("data", {})
    wire.setdefault("ts", int(time.time() * 1000))
    wire.setdefault("user", {})
    wire.setdefault("id", f"test-{hash_step_id(str(wire))[:12]}")
    return wire


class _Simulation:
    """The server's side of the protocol, in memory."""

    def __init__(
        self,
        fn: Function[Any],
        event: dict[str, Any],
        events: list[dict[str, Any]],
        steps: Mapping[str, Any],
        waits: Mapping[str, Any],
        invokes: Mapping[str, Any],
    ) -> None:
        self.fn = fn
        self.event = event
        self.events = events
        self.memos = {hash_step_id(step_id): _memo(value) for step_id, value in steps.items()}
        self.stack: list[str] = list(self.memos)
        self.waits = waits
        self.invokes = invokes
        self.result = TestRun()
        self.queue: list[tuple[str, int]] = [("step", 0)]
        self._ids = itertools.count(1)

    def call(self, target: str, attempt: int) -> Call:
        self.result.calls += 1
        return Call(
            event=self.event,
            events=self.events,
            steps=dict(self.memos),
            run_id="test-run",
            attempt=attempt,
            max_attempts=self.fn.max_attempts,
            stack=list(self.stack),
        )

    def record(self, op: dict[str, Any], memo: Any) -> None:
        self.memos[op["id"]] = memo
        self.stack.append(op["id"])
        step_id = (op.get("userland") or {}).get("id") or op.get("name", "")
        index = (op.get("userland") or {}).get("index")
        name = f"{step_id}:{index}" if index else step_id
        error = memo.get("error") if isinstance(memo, dict) else None
        data = memo.get("data") if isinstance(memo, dict) and "data" in memo else memo
        self.result.steps.append(StepRecord(id=name, op=op["op"], data=data, error=error))

    async def send(self, events: list[dict[str, Any]]) -> list[str]:
        return self.send_sync(events)

    def send_sync(self, events: list[dict[str, Any]]) -> list[str]:
        self.result.sent_events.extend(events)
        return [f"test-event-{next(self._ids)}" for _ in events]

    def apply(self, target: str, attempt: int, outcome: Outcome) -> bool:
        """Take in one answer; return whether the run has finished."""
        body = orjson.loads(outcome.body) if outcome.body else None
        if outcome.status == 200:
            self.result.output = body
            return True
        if outcome.status != 206:
            final = outcome.headers.get("x-inngest-no-retry") == "true"
            if final or attempt + 1 >= self.fn.max_attempts:
                self.result.status, self.result.error = "Failed", body
                return True
            self.queue.append((target, attempt + 1))
            return False
        planned = False
        for op in body or []:
            planned |= self._op(op, attempt)
        if not planned and not self.queue:
            self.queue.append(("step", 0))
        return False

    def _op(self, op: dict[str, Any], attempt: int) -> bool:
        kind = op["op"]
        user_id = (op.get("userland") or {}).get("id") or op.get("name", "")
        if kind == "StepRun":
            self.record(op, {"data": op.get("data")})
        elif kind == "StepFailed":
            self.record(op, {"error": op.get("error")})
        elif kind == "StepError":
            self.queue.append((op["id"], attempt + 1))
            return True
        elif kind == "StepPlanned":
            self.queue.append((op["id"], 0))
            return True
        elif kind == "Sleep":
            self.record(op, None)
        elif kind == "WaitForEvent":
            waited = self.waits.get(user_id)
            self.record(op, _wire_event(waited) if waited is not None else None)
        elif kind == "InvokeFunction":
            self.record(op, _memo(self.invokes.get(user_id)))
        return False


def _prepare(
    fn: Function[Any],
    event: Event[Any] | Mapping[str, Any] | None,
    events: list[Event[Any] | Mapping[str, Any]] | None,
    steps: Mapping[str, Any] | None,
    waits: Mapping[str, Any] | None,
    invokes: Mapping[str, Any] | None,
) -> _Simulation:
    first = _wire_event(event)
    batch = [_wire_event(e) for e in events] if events else [first]
    return _Simulation(fn, first, batch, steps or {}, waits or {}, invokes or {})


def run(
    fn: Function[Any],
    event: Event[Any] | Mapping[str, Any] | None = None,
    *,
    events: list[Event[Any] | Mapping[str, Any]] | None = None,
    steps: Mapping[str, Any] | None = None,
    waits: Mapping[str, Any] | None = None,
    invokes: Mapping[str, Any] | None = None,
    max_calls: int = 10_000,
) -> TestRun:
    """Run `fn` to the end in process for `event`, with no server (see the module docs)."""
    if fn.is_async:
        return asyncio.run(
            run_async_fn(
                fn,
                event,
                events=events,
                steps=steps,
                waits=waits,
                invokes=invokes,
                max_calls=max_calls,
            )
        )
    sim = _prepare(fn, event, events, steps, waits, invokes)
    while sim.queue and sim.result.calls < max_calls:
        target, attempt = sim.queue.pop(0)
        call = sim.call(target, attempt)
        outcome = run_sync(
            fn, call, None if target == "step" else target, send=sim.send_sync, logger=_LOGGER
        )
        if sim.apply(target, attempt, outcome):
            break
    return sim.result


async def run_async_fn(
    fn: Function[Any],
    event: Event[Any] | Mapping[str, Any] | None = None,
    *,
    events: list[Event[Any] | Mapping[str, Any]] | None = None,
    steps: Mapping[str, Any] | None = None,
    waits: Mapping[str, Any] | None = None,
    invokes: Mapping[str, Any] | None = None,
    max_calls: int = 10_000,
) -> TestRun:
    """`run`, from async test code (sync handlers run in a worker thread)."""
    sim = _prepare(fn, event, events, steps, waits, invokes)
    while sim.queue and sim.result.calls < max_calls:
        target, attempt = sim.queue.pop(0)
        call = sim.call(target, attempt)
        step = None if target == "step" else target
        if fn.is_async:
            outcome = await run_async(fn, call, step, send=sim.send, logger=_LOGGER)
        else:
            outcome = await asyncio.to_thread(
                run_sync, fn, call, step, send=sim.send_sync, logger=_LOGGER
            )
        if sim.apply(target, attempt, outcome):
            break
    return sim.result


# -- a real server ------------------------------------------------------------------------


@dataclass
class DevServer:
    """A ``surge dev`` subprocess on a free loopback port."""

    port: int
    process: subprocess.Popen[bytes]
    directory: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _surge_command() -> list[str]:
    beside = Path(sys.executable).with_name("surge")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("surge")
    return [found] if found else [sys.executable, "-m", "surge.cli.main"]


@contextlib.contextmanager
def dev_server(*, sdk_urls: list[str] | None = None, timeout: float = 20.0) -> Iterator[DevServer]:
    """Start ``surge dev`` (SQLite in a temporary directory) and stop it on exit."""
    with tempfile.TemporaryDirectory(prefix="surge-test-") as tmp:
        port = _free_port()
        argv = [*_surge_command(), "dev", "--host", "127.0.0.1", "--port", str(port)]
        argv += ["--db", str(Path(tmp) / "surge.db"), "--no-discovery", "--no-poll"]
        for url in sdk_urls or []:
            argv += ["-u", url]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SURGE_", "INNGEST_"))}
        with (Path(tmp) / "server.log").open("wb") as log:
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        server = DevServer(port=port, process=process, directory=Path(tmp))
        try:
            _wait_healthy(server, timeout)
            yield server
        finally:
            server.stop()


def _wait_healthy(server: DevServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            log = (server.directory / "server.log").read_text(errors="replace")
            raise RuntimeError(f"surge dev exited with {server.process.returncode}:\n{log}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"surge dev did not answer /health within {timeout:.0f}s")
        time.sleep(0.1)


try:
    import pytest
except ImportError:  # pragma: no cover - pytest is only needed for the fixture
    pass
else:

    @pytest.fixture
    def surge_dev_server() -> Iterator[DevServer]:
        """A ``surge dev`` server on a free port, for the test's duration."""
        with dev_server() as server:
            yield server
