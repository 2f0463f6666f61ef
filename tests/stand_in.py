"""A stand-in HTTP endpoint on loopback, for tests of server-side HTTP steps."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from surge.core.limits import MAX_HTTP_STEP_RESPONSE_BYTES


@dataclass
class StandIn:
    """A loopback HTTP endpoint that records each request and answers by path."""

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    """Answers requests to ``/held``, which wait for it (at most a minute)."""


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    """A loopback endpoint for HTTP steps: ``/text`` (plain text, and a cookie), ``/chat``
    (a chat completion), ``/held`` (a chat completion once `StandIn.release` is set),
    ``/busy`` (503), ``/huge`` (over the response limit)."""
    seen: list[dict[str, Any]] = []
    release = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self) -> None:
            size = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(size) if size else b""
            seen.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": dict(self.headers),
                    "body": body,
                }
            )
            if self.path.startswith("/held"):
                release.wait(timeout=60)
                reply = {"choices": [{"message": {"content": "held"}}]}
                self._send(200, json.dumps(reply).encode(), "application/json")
            elif self.path.startswith("/text"):
                self._send(200, b"plain words", "text/plain", {"set-cookie": "session=secret"})
            elif self.path.startswith("/chat"):
                reply = {"choices": [{"message": {"content": "hello"}}]}
                self._send(200, json.dumps(reply).encode(), "application/json")
            elif self.path.startswith("/busy"):
                self._send(503, b"try later", "text/plain")
            elif self.path.startswith("/huge"):
                self._send(200, b"x" * (MAX_HTTP_STEP_RESPONSE_BYTES + 1), "text/plain")
            else:
                self._send(404, b"nope", "text/plain")

        def _send(
            self, status: int, body: bytes, kind: str, extra: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(body)))
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield StandIn(
            url=f"http://127.0.0.1:{server.server_address[1]}", requests=seen, release=release
        )
    finally:
        release.set()
        server.shutdown()
        server.server_close()
