"""Serve functions from any ASGI server, or from Starlette and FastAPI.

Standalone (uvicorn runs it directly; every path is the endpoint)::

    app = surge.asgi_app(client, [fn1, fn2])

In a Starlette or FastAPI app, at ``/api/inngest``::

    surge.serve_asgi(app, client, [fn1, fn2])
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any, Protocol
from urllib.parse import parse_qsl

from surge.sdk._client import Surge
from surge.sdk._comm import Comm, CommRequest
from surge.sdk._function import Function

__all__ = ["SurgeASGI", "asgi_app", "serve_asgi"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

FRAMEWORK = "asgi"
DEFAULT_PATH = "/api/inngest"


class _RouteHost(Protocol):
    def add_route(self, path: str, route: Any, methods: list[str] | None = ...) -> None: ...


class SurgeASGI:
    """An ASGI application answering the serve endpoint for a client's functions."""

    def __init__(
        self, client: Surge, functions: Sequence[Function[Any]], framework: str = FRAMEWORK
    ) -> None:
        self.comm = Comm(client, functions, framework)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await _lifespan(receive, send)
            await self.comm.client.aclose()
            return
        if kind != "http":
            return
        body = await _read_body(receive)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        raw_query = scope.get("query_string", b"").decode("latin-1")
        request = CommRequest(
            method=scope["method"],
            url=_url(scope, headers, raw_query),
            query=dict(parse_qsl(raw_query, keep_blank_values=True)),
            headers=headers,
            body=body,
        )
        response = await self.comm.handle(request)
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [
                    (k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()
                ],
            }
        )
        await send({"type": "http.response.body", "body": response.body})


async def _read_body(receive: Receive) -> bytes:
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body"):
        return body
    parts = [body]
    while message.get("more_body"):
        message = await receive()
        parts.append(message.get("body", b""))
    return b"".join(parts)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _url(scope: Scope, headers: dict[str, str], raw_query: str) -> str:
    scheme = scope.get("scheme", "http")
    host = headers.get("host")
    if host is None:
        server = scope.get("server") or ("localhost", 80)
        host = f"{server[0]}:{server[1]}"
    path = scope.get("path", "/")
    root = scope.get("root_path", "")
    if root and not path.startswith(root):
        path = root + path
    return f"{scheme}://{host}{path}" + (f"?{raw_query}" if raw_query else "")


def asgi_app(client: Surge, functions: Sequence[Function[Any]]) -> SurgeASGI:
    """A standalone ASGI app serving `functions` (on every path)."""
    return SurgeASGI(client, functions)


def serve_asgi(
    app: _RouteHost,
    client: Surge,
    functions: Sequence[Function[Any]],
    *,
    path: str = DEFAULT_PATH,
    framework: str = "starlette",
) -> SurgeASGI:
    """Add the serve endpoint at `path` to a Starlette or FastAPI `app`; return it."""
    endpoint = SurgeASGI(client, functions, framework)
    app.add_route(path, endpoint, methods=["GET", "POST", "PUT"])
    return endpoint
