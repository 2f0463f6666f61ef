"""What a benchmark app saw, for the ``bench/fanout.py`` driver: ``/stats`` and ``/wait``.

Shared by ``sdk_app.py`` (the official SDK) and ``surge_app.py`` (the Surge SDK): both
record every call with the run's id and event id, and every worker run's final call.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any


class Stats:
    def __init__(self) -> None:
        self.calls = 0
        self.calls_by_fn: dict[str, int] = {}
        self.worker_final = 0
        self.first_call: dict[str, tuple[float, str | None]] = {}
        self.final_by_event: dict[str, tuple[float, float]] = {}
        self.waiters: list[tuple[Any, asyncio.Future[Any]]] = []

    def record(self, fn: str, run_id: str, event_id: str | None) -> None:
        self.calls += 1
        self.calls_by_fn[fn] = self.calls_by_fn.get(fn, 0) + 1
        if run_id not in self.first_call:
            self.first_call[run_id] = (time.time(), event_id or None)

    def final(self, run_id: str, event_id: str | None) -> None:
        self.worker_final += 1
        if event_id:
            self.final_by_event[event_id] = (self.first_call[run_id][0], time.time())
        if not self.waiters:
            return
        still = []
        for check, fut in self.waiters:
            if not fut.done():
                result = check()
                if result is None:
                    still.append((check, fut))
                else:
                    fut.set_result(result)
        self.waiters = still

    async def wait(self, final: int | None, event_id: str | None, timeout: float) -> Any:
        def check() -> Any:
            if event_id is not None:
                return self.final_by_event.get(event_id)
            return self.worker_final if self.worker_final >= (final or 0) else None

        result = check()
        if result is not None:
            return result
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiters.append((check, fut))
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            return None

    def snapshot(self, full: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "calls": self.calls,
            "calls_by_fn": self.calls_by_fn,
            "worker_final": self.worker_final,
            "runs": len(self.first_call),
        }
        if full:
            out["first_call"] = self.first_call
        return out
