"""Slow and oversized clients on a real socket: read deadlines and the bound on a request's
head (`server/http.py`), with short deadlines so the tests wait fractions of a second."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from surge.core.limits import MAX_HEAD_BYTES
from surge.server.http import GuardedProtocol

DEADLINE_S = 0.4


class _Quick(GuardedProtocol):
    head_timeout = DEADLINE_S
    body_idle_timeout = DEADLINE_S


@pytest.fixture
async def base_url(
    serve_with: Callable[..., contextlib.AbstractAsyncContextManager[str]],
) -> AsyncIterator[str]:
    async with serve_with(http=_Quick) as url:
        yield url


@contextlib.asynccontextmanager
async def raw_connection(
    base_url: str,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    host, port = base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        yield reader, writer
    finally:
        writer.close()


async def closed_after(reader: asyncio.StreamReader) -> tuple[float, bytes]:
    """Seconds until the server closes the connection, and what it sent before."""
    started = time.monotonic()
    received = await asyncio.wait_for(reader.read(), timeout=10)
    return time.monotonic() - started, received


async def test_a_connection_that_sends_nothing_is_closed(base_url: str) -> None:
    async with raw_connection(base_url) as (reader, _):
        waited, received = await closed_after(reader)

    assert received == b""
    assert DEADLINE_S * 0.8 < waited < DEADLINE_S + 5


async def test_a_head_trickled_slower_than_the_deadline_is_cut_off(base_url: str) -> None:
    async with raw_connection(base_url) as (reader, writer):
        started = time.monotonic()
        with contextlib.suppress(ConnectionError):
            for byte in b"GET /health HTTP/1.1\r\nHost: x\r\n":
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(DEADLINE_S / 8)
                if reader.at_eof():
                    break
        _, received = await closed_after(reader)

    assert received == b""
    assert time.monotonic() - started < DEADLINE_S * 4


async def test_a_stalled_body_is_cut_off_and_nothing_is_stored(base_url: str) -> None:
    async with raw_connection(base_url) as (reader, writer):
        writer.write(
            b"POST /e/key HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"name": "slow/'
        )
        await writer.drain()
        waited, _ = await closed_after(reader)

    assert waited < DEADLINE_S + 5
    async with httpx.AsyncClient(base_url=base_url) as client:
        assert (await client.get("/health")).status_code == 200
        assert (await client.get("/v1/events")).json()["data"] == []


async def test_a_head_over_the_bound_is_a_431(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        big = await client.get("/health", headers={"x-pad": "a" * MAX_HEAD_BYTES})
        small = await client.get("/health", headers={"x-pad": "a" * (MAX_HEAD_BYTES // 2)})

    assert big.status_code == 431
    assert str(MAX_HEAD_BYTES) in big.text
    assert small.status_code == 200


async def test_requests_on_a_kept_alive_connection_each_get_the_full_deadline(
    base_url: str,
) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        for _ in range(4):
            assert (await client.get("/health")).status_code == 200
            await asyncio.sleep(DEADLINE_S * 0.6)
        resp = await client.post("/e/key", json={"name": "shop/kept"})

    assert resp.status_code == 200
