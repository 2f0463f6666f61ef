"""Serving on loopback and waiting with a deadline, for the server tests (`conftest.py`'s
harnesses use them too): a module of its own, so that a test may import them at run time
(pytest may hold another directory's conftest under the name ``conftest``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
import uvicorn

from surge.server import server_config

WAIT_TIMEOUT = 15.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- uvicorn in the test's event loop ---------------------------------------------------------


class _QuietServer(uvicorn.Server):
    """uvicorn without its signal handlers: the test runner owns SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serve_on_loopback(
    app: Any, *, lifespan: str = "on", **options: Any
) -> AsyncIterator[str]:
    """Serve `app` as `surge dev` does (uvicorn behind `GuardedProtocol`; `options` passed on)
    on a free 127.0.0.1 port; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = _QuietServer(server_config(app, lifespan=lifespan, **options))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                pytest.fail("uvicorn exited before it started serving")
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=15)
        sock.close()


async def wait_for(
    check: Callable[[], Awaitable[Any]],
    *,
    what: str,
    last: Callable[[], Any] | None = None,
    timeout: float = WAIT_TIMEOUT,
) -> Any:
    """Await `check()` until it returns something truthy; fail naming `what` after `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            detail = f"; last seen: {last()!r}" if last is not None else ""
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        await asyncio.sleep(0.02)
