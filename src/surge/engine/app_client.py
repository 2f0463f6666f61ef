"""The HTTP client the engine uses to call apps: pooled keep-alive connections."""

from __future__ import annotations

from dataclasses import dataclass

import httpx


@dataclass(frozen=True, kw_only=True, slots=True)
class AppResponse:
    """What an app answered. Header names are lower-case."""

    status: int
    headers: dict[str, str]
    body: bytes


class AppUnreachable(Exception):
    """The app could not be reached or did not answer in time; the message says how."""


class AppClient:
    """Calls SDK endpoints over HTTP/1.1 with a shared connection pool."""

    def __init__(self, *, timeout: float, max_connections: int = 200) -> None:
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=10.0),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            follow_redirects=False,
        )

    async def request(
        self, method: str, url: str, *, body: bytes = b"", headers: dict[str, str]
    ) -> AppResponse:
        """Send one request; raise `AppUnreachable` on connection errors and timeouts."""
        try:
            response = await self._client.request(method, url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise AppUnreachable(f"timed out calling {url}: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            raise AppUnreachable(f"could not reach {url}: {exc or type(exc).__name__}") from exc
        return AppResponse(
            status=response.status_code,
            headers={k.lower(): v for k, v in response.headers.items()},
            body=response.content,
        )

    async def close(self) -> None:
        await self._client.aclose()
