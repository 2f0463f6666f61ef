"""A lean HTTP client: pooled keep-alive HTTP/1.1 connections, for the two hottest paths,
the engine calling apps (every step of every run is one call) and the SDK checkpointing
each step to the server.

A general-purpose client spends more CPU per request than the rest of a step's handling
together; this one is an asyncio protocol over `httptools`' response parser (the parser
uvicorn uses), keeping idle connections per origin.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import defaultdict, deque
from dataclasses import dataclass
from urllib.parse import urlsplit

import httptools

from surge.core.errors import AppTimeout, AppUnreachable

__all__ = ["AppClient", "AppResponse", "AppTimeout", "AppUnreachable"]


@dataclass(frozen=True, kw_only=True, slots=True)
class AppResponse:
    """What an app answered. Header names are lower-case."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class _Origin:
    scheme: str
    host: str
    port: int

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection; one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[AppResponse] | None = None
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self.answered_any_byte = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(
                AppUnreachable(f"the app closed the connection before answering ({exc or 'EOF'})")
            )

    def data_received(self, data: bytes) -> None:
        self.answered_any_byte = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(AppUnreachable(f"the app sent a malformed HTTP response: {exc}"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        self._headers[key] = f"{self._headers[key]}, {text}" if key in self._headers else text

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        response = AppResponse(
            status=self._parser.get_status_code(), headers=self._headers, body=b"".join(self._body)
        )
        if not self._parser.should_keep_alive():
            self.closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(response)

    def send(self, request: bytes) -> asyncio.Future[AppResponse]:
        assert self.transport is not None
        self._headers = {}
        self._body = []
        self.answered_any_byte = False
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self._waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _fail(self, exc: Exception) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)
        self.close()


class AppClient:
    """Calls SDK endpoints over HTTP/1.1, reusing idle connections per origin."""

    def __init__(self, *, timeout: float, max_idle_per_origin: int = 256) -> None:
        self._timeout = timeout
        self._max_idle = max_idle_per_origin
        self._idle: defaultdict[_Origin, deque[_Connection]] = defaultdict(deque)
        self._ssl: ssl.SSLContext | None = None

    async def request(
        self, method: str, url: str, *, body: bytes = b"", headers: dict[str, str]
    ) -> AppResponse:
        """Send one request; raise `AppUnreachable` on connection errors and timeouts."""
        origin, target = _split(url)
        head = [f"{method} {target} HTTP/1.1", f"host: {origin.host_header}"]
        head.extend(f"{key}: {value}" for key, value in headers.items())
        head.append(f"content-length: {len(body)}")
        request = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        connection, reused = await self._acquire(origin, url)
        waiter = connection.send(request)
        # A timer handle is much cheaper than asyncio.wait_for's extra task.
        timer = asyncio.get_running_loop().call_later(
            self._timeout, _expire, waiter, f"timed out after {self._timeout:g} s waiting for {url}"
        )
        try:
            response = await waiter
        except AppTimeout:
            connection.close()
            raise
        except AppUnreachable:
            connection.close()
            if reused and not connection.answered_any_byte and not waiter.cancelled():
                # A kept-alive connection the app had already closed: one fresh try.
                return await self.request(method, url, body=body, headers=headers)
            raise
        finally:
            timer.cancel()
        self._release(origin, connection)
        return response

    async def close(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()

    async def _acquire(self, origin: _Origin, url: str) -> tuple[_Connection, bool]:
        idle = self._idle[origin]
        while idle:
            connection = idle.pop()
            if not connection.closed:
                return connection, True
        loop = asyncio.get_running_loop()
        context = self._ssl_context() if origin.scheme == "https" else None
        try:
            _, connection = await asyncio.wait_for(
                loop.create_connection(_Connection, origin.host, origin.port, ssl=context),
                min(self._timeout, 10.0),
            )
        except TimeoutError:
            raise AppTimeout(f"timed out connecting to {url}") from None
        except OSError as exc:
            raise AppUnreachable(f"could not connect to {url}: {exc.strerror or exc}") from None
        return connection, False

    def _release(self, origin: _Origin, connection: _Connection) -> None:
        idle = self._idle[origin]
        if connection.closed or len(idle) >= self._max_idle:
            connection.close()
        else:
            idle.append(connection)

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl


def _expire(waiter: asyncio.Future[AppResponse], message: str) -> None:
    if not waiter.done():
        waiter.set_exception(AppTimeout(message))


def _split(url: str) -> tuple[_Origin, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AppUnreachable(f"not an http(s) URL: {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    return _Origin(parts.scheme, parts.hostname, port), target
