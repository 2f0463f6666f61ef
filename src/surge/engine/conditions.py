"""Trigger conditions evaluated so that no event can stall the server.

The CEL runtime holds the GIL while it evaluates, so neither the event loop nor a thread can
bound how long one evaluation takes. Most evaluations are tiny (a short expression over a
small event) and run inline. One whose cost could be large, judged by the expression's length
times the event's size, runs in a worker process with a deadline: past it, the worker is
killed (a new one starts on the next need) and the condition counts as not holding, which is
logged. Registration already refuses the expressions whose cost grows with the square of an
event (`expressions.cost_problem`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

from surge.core import codec
from surge.core.functions import FunctionConfig
from surge.core.limits import EXPRESSION_TIMEOUT_S

from .expressions import Expression, compile_expression
from .triggers import TriggerIndex

__all__ = ["INLINE_BUDGET", "Conditions"]

logger = logging.getLogger(__name__)

_START_TIMEOUT_S = 60.0
_SLICE_S = 0.005

INLINE_BUDGET = 1 << 20
"""Expression characters times encoded event bytes evaluated on the event loop; above it, in the
worker. A 100-character condition runs inline on events up to 10 KiB."""


class Conditions:
    """Decides which functions events trigger, conditions included (one per engine)."""

    def __init__(self, *, timeout: float = EXPRESSION_TIMEOUT_S) -> None:
        self._timeout = timeout
        self._worker: _Worker | None = None
        self._lock = asyncio.Lock()
        self.timeouts = 0
        """Evaluations that ran out of time (each counted as not holding)."""

    async def match(
        self, index: TriggerIndex, events: Sequence[dict[str, Any]]
    ) -> list[list[FunctionConfig]]:
        """For each event, the functions it triggers, in index order."""
        costly: dict[tuple[int, str], bool] = {}
        sizes: dict[int, int] = {}
        for n, event in enumerate(events):
            name = event.get("name")
            if not isinstance(name, str):
                continue
            for _, _, condition in index.candidates(name):
                if condition is None or (n, condition.source) in costly:
                    continue
                if n not in sizes:
                    sizes[n] = len(codec.dumps(event))
                if len(condition.source) * sizes[n] > INLINE_BUDGET:
                    costly[(n, condition.source)] = await self._evaluate_apart(condition, event)

        def deciding(n: int, event: dict[str, Any]) -> Any:
            def holds(condition: Expression) -> bool:
                verdict = costly.get((n, condition.source))
                if verdict is not None:
                    return verdict
                return condition.matches({"event": event})

            return holds

        matched = []
        slice_started = time.perf_counter()
        for n, event in enumerate(events):
            matched.append(index.decide(event, deciding(n, event)))
            if time.perf_counter() - slice_started > _SLICE_S:
                # Many events, each cheap: let the loop serve others between them.
                await asyncio.sleep(0)
                slice_started = time.perf_counter()
        return matched

    async def close(self) -> None:
        """Stop the worker process, if one runs."""
        async with self._lock:
            if self._worker is not None:
                self._worker.kill()
                self._worker = None

    async def _evaluate_apart(self, condition: Expression, event: dict[str, Any]) -> bool:
        job = codec.dumps([condition.source, event])
        async with self._lock:  # one evaluation at a time: the worker is one process
            if self._worker is None:
                self._worker = await asyncio.to_thread(_Worker)
            worker = self._worker
            started = time.monotonic()
            verdict = await asyncio.to_thread(worker.evaluate, job, self._timeout)
            if verdict is None:
                self.timeouts += 1
                worker.kill()
                self._worker = None
                logger.warning(
                    "a trigger condition ran out of time and counts as not holding",
                    extra={
                        "expression": condition.source[:200],
                        "event_name": event.get("name"),
                        "seconds": round(time.monotonic() - started, 3),
                    },
                )
                return False
            return verdict


class _Worker:
    """A child process evaluating one condition at a time, sent over a pipe."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child,), name="surge-conditions", daemon=True
        )
        self._process.start()
        child.close()
        # Ready once its imports are done, so they do not count against the first deadline.
        if not self._conn.poll(_START_TIMEOUT_S) or self._conn.recv_bytes() != b"ready":
            self.kill()
            raise RuntimeError("the condition worker process did not start")

    def evaluate(self, job: bytes, timeout: float) -> bool | None:
        """Whether the condition holds, or `None` when it took longer than `timeout`
        (or the worker died)."""
        try:
            self._conn.send_bytes(job)
            if not self._conn.poll(timeout):
                return None
            answer: bool = codec.loads(self._conn.recv_bytes())
        except (EOFError, OSError):
            return None
        return answer

    def kill(self) -> None:
        self._process.kill()
        self._process.join(timeout=5)
        with contextlib.suppress(OSError):
            self._conn.close()


def _serve(conn: Connection) -> None:
    """The worker's loop: `[source, event]` in, whether the condition holds out."""
    conn.send_bytes(b"ready")
    while True:
        try:
            source, event = codec.loads(conn.recv_bytes())
        except EOFError:
            return
        conn.send_bytes(codec.dumps(compile_expression(source).matches({"event": event})))
