"""Finding apps and asking them to sync: `-u` URLs, polling and auto-discovery
(`docs/protocol.md`, "Sync")."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from surge.core import codec
from surge.core.clock import Clock
from surge.core.errors import AppUnreachable
from surge.core.http_client import AppClient
from surge.core.signing import canonical_json, signature

from .config import EngineConfig
from .registry import Registry

logger = logging.getLogger(__name__)

DISCOVERY_PORTS = (
    80,
    443,
    *range(3000, 3011),
    4321,
    5000,
    5173,
    8000,
    8080,
    8081,
    8888,
    *range(8910, 8916),
    8787,
)
DISCOVERY_PATHS = (
    "/api/inngest",
    "/x/inngest",
    "/.netlify/functions/inngest",
    "/.redwood/functions/inngest",
)


@dataclass
class AppStatus:
    """What the last ping of an app URL found."""

    url: str
    error: str | None = "unreachable"
    pinged_at: int = 0


def with_scheme(url: str) -> str:
    """`inngest dev -u` accepts a URL without a scheme and assumes `http://`."""
    return url if "://" in url else f"http://{url}"


class AppPinger:
    """Sends the `PUT` that makes an SDK sync, on start and then every `poll_interval` seconds
    of the node's config.

    Without `poll`, only URLs whose last ping failed are pinged again. With `discovery`,
    well-known local ports are probed for SDK endpoints until an app has synced.
    """

    def __init__(
        self, client: AppClient, registry: Registry, clock: Clock, config: EngineConfig
    ) -> None:
        self._client = client
        self._registry = registry
        self._clock = clock
        self._config = config
        self.statuses = {url: AppStatus(url=url) for url in map(with_scheme, config.sdk_urls)}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="surge-app-pinger")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def ping(self, url: str) -> AppStatus:
        """Ask the SDK at `url` to sync; record and return what happened."""
        status = self.statuses.setdefault(url, AppStatus(url=url))
        status.pinged_at = self._clock.now()
        kind = self._config.server_kind
        headers = {"content-type": "application/json", "x-inngest-server-kind": kind}
        body = canonical_json({"url": url})
        if self._config.signing_key:
            headers["x-inngest-signature"] = signature(body, self._config.signing_key)
        try:
            answer = await self._client.request("PUT", url, body=body, headers=headers)
        except AppUnreachable as exc:
            status.error = f"unreachable: {exc}"
            return status
        status.error = _ping_error(answer.status, answer.headers, answer.body)
        if status.error:
            logger.warning("app sync failed", extra={"url": url, "error": status.error})
        return status

    async def _run(self) -> None:
        first = True
        while True:
            targets = [
                url
                for url, status in self.statuses.items()
                if first or self._config.poll or status.error is not None
            ]
            await asyncio.gather(*(self.ping(url) for url in targets))
            if self._config.discovery and not self._registry.snapshot.functions:
                await self._discover()
            first = False
            await self._clock.sleep(self._config.poll_interval)

    async def _discover(self) -> None:
        open_ports = [p for p in await asyncio.gather(*map(_port_open, DISCOVERY_PORTS)) if p]
        for port in open_ports:
            for path in DISCOVERY_PATHS:
                url = f"http://127.0.0.1:{port}{path}"
                if url in self.statuses:
                    continue
                try:
                    answer = await self._client.request("GET", url, headers={})
                except AppUnreachable:
                    continue
                if "x-inngest-sdk" in answer.headers:
                    logger.info("discovered an app", extra={"url": url})
                    await self.ping(url)


async def _port_open(port: int) -> int | None:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2.0)
    except (OSError, TimeoutError):
        return None
    writer.close()
    return port


def _ping_error(status: int, headers: dict[str, str], body: bytes) -> str | None:
    """The error a sync PUT reports, or `None` when the app synced."""
    if "x-inngest-sdk" not in headers:
        return f"not an SDK endpoint: HTTP {status} without an X-Inngest-Sdk header"
    try:
        reply = codec.loads(body) if body.strip() else {}
    except codec.JSONDecodeError:
        reply = {}
    message = None
    if isinstance(reply, dict):
        message = reply.get("error") or (reply.get("message") if status >= 400 else None)
    if status >= 400:
        return f"HTTP {status}: {message or body[:200].decode('utf-8', 'replace')}"
    return str(message) if message else None
