"""The HTTP server under the ASGI app: uvicorn, with the read deadlines and the header bound
a server facing the network needs.

uvicorn closes a connection idle between requests (keep-alive), but not one that opens and
sends nothing, trickles a request's head a byte at a time, or stalls in the middle of a body,
and it puts no bound on the size of a request's head. `GuardedProtocol` adds those, so a slow
or hostile client cannot hold connections and memory for as long as it likes.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from surge.core.limits import (
    BODY_IDLE_TIMEOUT_S,
    HEAD_TIMEOUT_S,
    KEEP_ALIVE_TIMEOUT_S,
    MAX_HEAD_BYTES,
)

__all__ = ["GuardedProtocol", "SurgeServer", "server_config"]

_HEAD_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"connection: close\r\n"
    b"content-length: %d\r\n\r\n%s"
)


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol with read deadlines and a bound on a request's head.

    A request's head (request line and headers) must arrive within `head_timeout` seconds of
    its first byte, or of the connection opening; its body may not stall for more than
    `body_idle_timeout` seconds. A connection that misses either is closed. A head larger
    than `max_head_bytes` is answered 431 and the connection closed.
    """

    head_timeout = HEAD_TIMEOUT_S
    body_idle_timeout = BODY_IDLE_TIMEOUT_S
    max_head_bytes = MAX_HEAD_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_deadline: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._head_too_large = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._expect_within(self.head_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        if self._read_deadline is None:  # a later request on a kept-alive connection
            self._expect_within(self.head_timeout)

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._expect_within(self.body_idle_timeout)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._expect_within(self.body_idle_timeout)
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._stop_waiting()
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        if not self._head_too_large:
            super().send_400_response(msg)
            return
        text = f"request head exceeds {self.max_head_bytes} bytes".encode()
        self.transport.write(_HEAD_TOO_LARGE % (len(text), text))
        self.transport.close()

    def _count_head(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self.max_head_bytes:
            self._head_too_large = True
            # Raised inside the parser's callback: uvicorn stops parsing and answers through
            # `send_400_response`, here a 431.
            raise ValueError("request head too large")

    def _expect_within(self, seconds: float) -> None:
        self._stop_waiting()
        self._read_deadline = self.loop.call_later(seconds, self._give_up)

    def _stop_waiting(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _give_up(self) -> None:
        self._read_deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def server_config(app: Any, **options: Any) -> uvicorn.Config:
    """uvicorn's configuration for `app` behind `GuardedProtocol` (and `options`, passed on)."""
    settings: dict[str, Any] = {
        "http": GuardedProtocol,
        "timeout_keep_alive": KEEP_ALIVE_TIMEOUT_S,
        "lifespan": "on",
        "log_level": "warning",
        "access_log": False,
        "ws": "none",
        **options,
    }
    return uvicorn.Config(app, **settings)


class SurgeServer(uvicorn.Server):
    """uvicorn's server, which also tells the app when it is asked to stop: long-lived
    responses (the dashboard's live lists) end then, rather than hold the exit up.

    The app's lifespan puts an `asyncio.Event` at ``app.state.closing`` and the running
    loop at ``app.state.loop``; a stop signal sets the event from the loop's thread.
    """

    def handle_exit(self, sig: int, frame: Any) -> None:
        super().handle_exit(sig, frame)
        state = getattr(self.config.app, "state", None)
        closing, loop = getattr(state, "closing", None), getattr(state, "loop", None)
        if closing is not None and loop is not None:
            loop.call_soon_threadsafe(closing.set)
