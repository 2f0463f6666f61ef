"""Work that could hold the event loop, done in a child process instead.

Python holds the GIL while the JSON decoder reads a document and while the CEL runtime
evaluates an expression, so neither a thread nor the event loop can bound how long either
takes. A `Child` is a fresh interpreter running `main`, one job at a time, sent over a pipe:
the caller waits in a thread, and can give up after a deadline, after which the child is
killed. Started afresh (not forked), the child imports nothing of the program that embeds
Surge, which therefore needs no ``if __name__ == "__main__"`` guard.

The jobs are the functions in `JOBS`. Arguments and results cross the pipe pickled: both ends
are this module, in processes of one installation.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from surge.core.errors import InvalidInput

__all__ = ["JOBS", "Child", "ChildFailed"]

_START_TIMEOUT_S = 60.0
_READY = b"ready"
_MAIN = f"from {__name__} import main; main()"


class ChildFailed(Exception):
    """The child process died, or a job raised something other than `InvalidInput`."""


class Child:
    """A child process running `JOBS`, one at a time. Blocking: call it from a thread."""

    def __init__(self, name: str) -> None:
        to_child, self._in = os.pipe()
        self._out, from_child = os.pipe()
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-c", _MAIN, str(to_child), str(from_child), name],
                pass_fds=(to_child, from_child),
                stdin=subprocess.DEVNULL,
            )
        finally:
            os.close(to_child)
            os.close(from_child)
        self._send = Connection(self._in, readable=False)
        self._receive = Connection(self._out, writable=False)
        # Ready once its imports are done, so they do not count against a job's deadline.
        if not self._receive.poll(_START_TIMEOUT_S) or self._receive.recv_bytes() != _READY:
            self.kill()
            raise ChildFailed(f"the {name} child process did not start")

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self._process.pid

    def run(self, job: str, *args: Any, timeout: float | None = None) -> Any:
        """`JOBS[job](*args)`, run in the child.

        Returns `None` when `timeout` (seconds) passes first; the child is then of no further
        use: `kill` it. Raises `InvalidInput` as the job raised it, and `ChildFailed` when the
        child died or the job failed otherwise.
        """
        try:
            self._send.send_bytes(pickle.dumps((job, args), pickle.HIGHEST_PROTOCOL))
            if timeout is not None and not self._receive.poll(timeout):
                return None
            ok, value = pickle.loads(self._receive.recv_bytes())
        except (EOFError, OSError) as exc:
            raise ChildFailed(f"the child process died: {exc!r}") from None
        if ok:
            return value
        if isinstance(value, InvalidInput):
            raise value
        raise ChildFailed(value)

    def kill(self) -> None:
        """Stop the child at once."""
        self._process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=5)
        for conn in (self._send, self._receive):
            with contextlib.suppress(OSError):
                conn.close()


def _matches(source: str, event: dict[str, Any]) -> bool:
    from .expressions import compile_expression

    return compile_expression(source).matches({"event": event})


def _encoded_events(
    body: bytes, seed: str | None, now: int, max_event_bytes: int
) -> list[tuple[str, bytes]]:
    from surge.core import codec

    from .ingest import sent_events

    events = sent_events(body, seed=seed, now=now, max_event_bytes=max_event_bytes)
    return [(internal_id, codec.dumps(event)) for internal_id, event in events]


JOBS: dict[str, Callable[..., Any]] = {
    "matches": _matches,
    "encoded_events": _encoded_events,
}
"""What a child can run: whether a condition holds for an event; a `POST /e/{key}` body's
events, checked as `sent_events` does and each encoded on its own."""


def _serve(receive: Connection, send: Connection) -> None:
    # Imports happen before "ready", so they do not count against the first job's deadline.
    from . import expressions, ingest  # noqa: F401

    send.send_bytes(_READY)
    while True:
        try:
            job, args = pickle.loads(receive.recv_bytes())
        except EOFError:
            return
        try:
            answer: tuple[bool, Any] = (True, JOBS[job](*args))
        except InvalidInput as exc:
            answer = (False, exc)
        except Exception as exc:  # the parent learns of it; this process goes on
            answer = (False, f"{job} failed: {exc!r}")
        send.send_bytes(pickle.dumps(answer, pickle.HIGHEST_PROTOCOL))


def main() -> None:
    """The child's entry point: ``python -c "...; main()" <read fd> <write fd> <name>``."""
    _serve(
        Connection(int(sys.argv[1]), writable=False),
        Connection(int(sys.argv[2]), readable=False),
    )
