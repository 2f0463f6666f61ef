"""Trigger conditions evaluated so that no event can stall the server.

The CEL runtime holds the GIL while it evaluates, so neither the event loop nor a thread can
bound how long one evaluation takes. Most evaluations are tiny (a short expression over a
small event) and run inline. One whose cost could be large, judged by the expression's length
times the event's size, runs in a child process (`child.Child`) with a deadline: past it, the
child is killed (a new one starts on the next need) and the condition counts as not holding,
which is logged. Registration already refuses the expressions whose cost grows with the square of an
event (`expressions.cost_problem`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from surge.core import codec
from surge.core.functions import FunctionConfig
from surge.core.ids import new_ulid
from surge.core.limits import EXPRESSION_TIMEOUT_S
from surge.storage import IngestEntry

from .child import Child, ChildFailed
from .expressions import Expression
from .ingest import entry_for, stored_payload
from .registry import Snapshot
from .triggers import TriggerIndex

__all__ = ["INLINE_BUDGET", "Conditions"]

logger = logging.getLogger(__name__)

_SLICE_S = 0.005

INLINE_BUDGET = 1 << 20
"""Expression characters times encoded event bytes evaluated on the event loop; above it, in the
child process. A 100-character condition runs inline on events up to 10 KiB."""


class Conditions:
    """Decides which functions events trigger, conditions included (one per engine)."""

    def __init__(self, *, timeout: float = EXPRESSION_TIMEOUT_S) -> None:
        self._timeout = timeout
        self._child: Child | None = None
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

    async def entries(
        self, snapshot: Snapshot, events: Sequence[dict[str, Any]], *, now: int
    ) -> list[IngestEntry]:
        """The entries storing `events` (a run's ``inngest/function.*`` events), each matched
        to the functions it triggers as sent events are."""
        ids = [new_ulid(now) for _ in events]
        payloads = [stored_payload(event, i) for event, i in zip(events, ids, strict=True)]
        matches = await self.match(snapshot.index, payloads)
        return [
            entry_for(snapshot, payload, now=now, internal_id=i, fresh=True, matched=matched)
            for payload, i, matched in zip(payloads, ids, matches, strict=True)
        ]

    async def close(self) -> None:
        """Stop the child process, if one runs."""
        async with self._lock:
            self._kill()

    async def _evaluate_apart(self, condition: Expression, event: dict[str, Any]) -> bool:
        async with self._lock:  # one evaluation at a time: the child is one process
            started = time.monotonic()
            try:
                if self._child is None:
                    self._child = await asyncio.to_thread(Child, "conditions")
                verdict = await asyncio.to_thread(
                    self._child.run, "matches", condition.source, event, timeout=self._timeout
                )
            except ChildFailed as exc:
                verdict, failure = None, str(exc)
            else:
                failure = "ran out of time"
            if verdict is None:
                self.timeouts += 1
                self._kill()
                logger.warning(
                    "a trigger condition %s and counts as not holding",
                    failure,
                    extra={
                        "expression": condition.source[:200],
                        "event_name": event.get("name"),
                        "seconds": round(time.monotonic() - started, 3),
                    },
                )
                return False
            return bool(verdict)

    def _kill(self) -> None:
        if self._child is not None:
            self._child.kill()
            self._child = None
