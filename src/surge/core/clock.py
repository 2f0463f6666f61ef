"""The one clock a server node reads: epoch milliseconds, and waiting until a time.

The entry point makes one `SystemClock` and passes it down; nothing below it reads the wall
clock itself, and storage takes every time as an argument. A test (or a replay) passes a
`ManualClock` instead and moves time on by hand.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import time

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock(abc.ABC):
    """Time as a server node sees it."""

    @abc.abstractmethod
    def now(self) -> int:
        """Milliseconds since the Unix epoch (UTC)."""

    @abc.abstractmethod
    async def wait(self, event: asyncio.Event, seconds: float) -> bool:
        """Wait until `event` is set or `seconds` have passed; return whether it was set."""

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds`."""
        await self.wait(asyncio.Event(), seconds)


class SystemClock(Clock):
    """The wall clock."""

    def now(self) -> int:
        return time.time_ns() // 1_000_000

    async def wait(self, event: asyncio.Event, seconds: float) -> bool:
        if event.is_set():
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), max(seconds, 0.0))
        return event.is_set()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ManualClock(Clock):
    """A clock that moves only when told to: a wait ends when `advance` passes its deadline.

    Args:
        start: The time it shows at first, in epoch milliseconds.
    """

    def __init__(self, start: int = 1_700_000_000_000) -> None:
        self._now = start
        self._timers: list[tuple[int, asyncio.Future[None]]] = []

    def now(self) -> int:
        return self._now

    async def advance(self, ms: int) -> None:
        """Move time forward by `ms`, end every wait that fell due, and let its waiter run."""
        self._now += ms
        due = [timer for deadline, timer in self._timers if deadline <= self._now]
        self._timers = [(d, timer) for d, timer in self._timers if d > self._now]
        for timer in due:
            if not timer.done():
                timer.set_result(None)
        for _ in range(10):
            await asyncio.sleep(0)

    @property
    def waiting(self) -> int:
        """How many waits are pending."""
        return sum(not timer.done() for _, timer in self._timers)

    async def wait(self, event: asyncio.Event, seconds: float) -> bool:
        deadline = self._now + int(seconds * 1000)
        if event.is_set() or deadline <= self._now:
            return event.is_set()
        timer = asyncio.get_running_loop().create_future()
        self._timers.append((deadline, timer))
        woken = asyncio.ensure_future(event.wait())
        try:
            await asyncio.wait({timer, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            woken.cancel()
            timer.cancel()
            self._timers = [(d, t) for d, t in self._timers if t is not timer]
        return event.is_set()
