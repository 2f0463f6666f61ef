"""Event request bodies decoded without holding the event loop, however large they are.

The JSON decoder holds the GIL for the whole document: 60 MB of numbers keeps every other
thread, the event loop's included, waiting for about half a second. A small body is decoded
on the event loop, a middling one in a thread (holding the GIL for some milliseconds at
most). A large one goes to a child process (`child.Child`), which checks every event as
`sent_events` does and hands each back encoded on its own; this process then decodes them one
by one in a thread, so the GIL changes hands between events (each at most
`ABSOLUTE_MAX_EVENT_BYTES`). The child costs a second encoding and decoding of every event,
so it is kept for the bodies that need it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from surge.core import codec

from .child import Child, ChildFailed
from .ingest import sent_events

__all__ = ["APART_BYTES", "INLINE_BYTES", "BodyDecoder"]

logger = logging.getLogger(__name__)

INLINE_BYTES = 256 * 1024
"""Bodies up to this size are decoded on the event loop."""
APART_BYTES = 4 * 1024 * 1024
"""Bodies up to this size (and over `INLINE_BYTES`) are decoded in a thread; larger ones in
the child process."""

Events = list[tuple[str, dict[str, Any]]]


class BodyDecoder:
    """Turns `POST /e/{key}` bodies into the events to store (one per engine)."""

    def __init__(self) -> None:
        self._child: Child | None = None
        self._lock = asyncio.Lock()

    @property
    def child_pid(self) -> int | None:
        """The child process's id, while one runs."""
        return None if self._child is None else self._child.pid

    async def events(
        self, body: bytes, *, seed: str | None, now: int, max_event_bytes: int
    ) -> Events:
        """The body's events with their internal ids, as `sent_events` gives them.

        Raises `InvalidInput` when any event is invalid.
        """
        if len(body) <= INLINE_BYTES:
            return sent_events(body, seed=seed, now=now, max_event_bytes=max_event_bytes)
        if len(body) <= APART_BYTES:
            return await asyncio.to_thread(
                sent_events, body, seed=seed, now=now, max_event_bytes=max_event_bytes
            )
        async with self._lock:  # one body at a time: the child is one process
            try:
                if self._child is None:
                    self._child = await asyncio.to_thread(Child, "event-decoder")
                encoded = await asyncio.to_thread(
                    self._child.run, "encoded_events", body, seed, now, max_event_bytes
                )
            except ChildFailed as exc:
                # Killed from outside, out of memory: the next body gets a new child, and
                # this one is decoded here, in a thread.
                logger.warning("decoding events in a thread instead: %s", exc)
                self._kill()
                return await asyncio.to_thread(
                    sent_events, body, seed=seed, now=now, max_event_bytes=max_event_bytes
                )
        return await asyncio.to_thread(_decoded, encoded)

    async def close(self) -> None:
        """Stop the child process, if one runs."""
        async with self._lock:
            self._kill()

    def _kill(self) -> None:
        if self._child is not None:
            self._child.kill()
            self._child = None


def _decoded(encoded: list[tuple[str, bytes]]) -> Events:
    return [(internal_id, codec.loads(event)) for internal_id, event in encoded]
