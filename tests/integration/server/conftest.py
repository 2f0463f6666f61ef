"""Fixtures for the HTTP API tests: a Surge server in process, and a scripted SDK app.

* ``asgi_server``: the real ASGI app with its lifespan entered (storage opened, engine
  started) on a temporary SQLite file, driven through ``httpx.ASGITransport``.
* ``socket_server``: the same app served by uvicorn on a loopback port (real sockets).
* ``server``: both of the above, one after the other (a parametrized fixture).
* ``sdk_app``: a tiny real HTTP server on loopback that answers execution calls
  (`docs/protocol.md`, "Execution") with scripted replies and records every request it received.

The engine calls apps over real HTTP whichever way the test reaches the server, so the
scripted app works with both server fixtures.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import httpx
import orjson
import psycopg
import pytest
from loopback import WAIT_TIMEOUT, free_port, serve_on_loopback, wait_for  # noqa: F401
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from surge.core.clock import SystemClock
from surge.engine import Engine, EngineConfig
from surge.server import create_app
from surge.storage import Storage, WorkItem, WorkKind, open_storage

FINAL = frozenset({"Completed", "Failed", "Cancelled", "Skipped"})
SDK_HEADER = "inngest-py:v0.5.19"
FAR_FUTURE_MS = 4_000_000_000_000
LEASE_MS = 3_600_000


def now_ms() -> int:
    return int(datetime.datetime.now(tz=datetime.UTC).timestamp() * 1000)


def iso_ms(ms: int) -> str:
    moment = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> int:
    moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(moment.timestamp() * 1000)


# -- the Surge server -------------------------------------------------------------------------


@dataclass
class Node:
    """An engine, with the storage and the clock it was given."""

    engine: Engine
    storage: Storage
    clock: SystemClock


@dataclass
class Harness:
    """A running Surge server: an HTTP client bound to it, its engine, storage and clock."""

    client: httpx.AsyncClient
    node: Node
    kind: str
    leases: int = 0

    @property
    def engine(self) -> Engine:
        return self.node.engine

    now_ms = staticmethod(now_ms)
    iso_ms = staticmethod(iso_ms)
    parse_iso = staticmethod(parse_iso)
    free_port = staticmethod(free_port)

    @staticmethod
    async def wait_for(check: Callable[[], Awaitable[Any]], *, what: str) -> Any:
        return await wait_for(check, what=what)

    async def send(
        self, events: Any, *, headers: dict[str, str] | None = None, key: str = "test-key"
    ) -> list[str]:
        resp = await self.client.post(f"/e/{key}", json=events, headers=headers or {})
        assert resp.status_code == 200, f"POST /e/{key} -> {resp.status_code}: {resp.text}"
        body = resp.json()
        assert body["status"] == 200, body
        ids: list[str] = body["ids"]
        return ids

    async def get_data(self, path: str, **params: Any) -> Any:
        resp = await self.client.get(path, params=params)
        assert resp.status_code == 200, f"GET {path} -> {resp.status_code}: {resp.text}"
        return resp.json()["data"]

    async def events(self, **params: Any) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = await self.get_data("/v1/events", **params)
        return data

    async def event_runs(self, event_id: str) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = await self.get_data(f"/v1/events/{event_id}/runs")
        return data

    async def run(self, run_id: str) -> dict[str, Any]:
        data: dict[str, Any] = await self.get_data(f"/v1/runs/{run_id}")
        return data

    async def history(self, run_id: str) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = await self.get_data(f"/v1/runs/{run_id}/history")
        return data

    async def wait_run(self, run_id: str, statuses: frozenset[str] = FINAL) -> dict[str, Any]:
        """Poll `GET /v1/runs/{id}` until the run's status is one of `statuses`."""
        last: dict[str, Any] = {}

        async def check() -> dict[str, Any] | None:
            nonlocal last
            last = await self.run(run_id)
            return last if last["status"] in statuses else None

        return await wait_for(
            check, what=f"run {run_id} to reach {sorted(statuses)}", last=lambda: last
        )

    async def wait_event_runs(self, event_id: str, count: int) -> list[dict[str, Any]]:
        """Poll until `event_id` has `count` runs, all finished; return them."""
        last: list[dict[str, Any]] = []

        async def check() -> list[dict[str, Any]] | None:
            nonlocal last
            last = await self.event_runs(event_id)
            done = len(last) == count and all(r["status"] in FINAL for r in last)
            return last if done else None

        return await wait_for(
            check, what=f"{count} finished run(s) of event {event_id}", last=lambda: last
        )

    async def lease_all(self) -> list[WorkItem]:
        """Lease every queued work item, due or not, hiding it from the scheduler.

        Each call leases at a later pretend time than the one before, so it sees again the
        items an earlier call leased.
        """
        self.leases += 1
        return await self.node.storage.lease_due(
            now=FAR_FUTURE_MS + self.leases * 2 * LEASE_MS, limit=1000, lease_ms=LEASE_MS
        )

    async def cron_items(self) -> list[WorkItem]:
        return [item for item in await self.lease_all() if item.kind is WorkKind.CRON]


def make_engine(tmp_path: Path, **overrides: Any) -> Node:
    return engine_on(str(tmp_path / "surge.db"), **overrides)


def engine_on(database: str, *, clock: SystemClock | None = None, **overrides: Any) -> Node:
    """An engine with the tests' defaults on `database` (a SQLite path or PostgreSQL URL),
    reading `clock` (the wall clock unless given)."""
    options: dict[str, Any] = {
        "retry_interval": 0.05,
        "discovery": False,
        "poll": False,
        "call_timeout": 10.0,
        **overrides,
    }
    storage, clock = open_storage(database), clock or SystemClock()
    return Node(Engine(storage, EngineConfig(**options), clock=clock), storage, clock)


@contextlib.asynccontextmanager
async def asgi_harness(node: Node, **app_options: Any) -> AsyncIterator[Harness]:
    app = create_app(node.engine, **app_options)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://surge.localhost"
        ) as client:
            yield Harness(client=client, node=node, kind="asgi")


@contextlib.asynccontextmanager
async def socket_harness(node: Node) -> AsyncIterator[Harness]:
    app = create_app(node.engine)
    async with serve_on_loopback(app) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            yield Harness(client=client, node=node, kind="socket")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def dashboard_server(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Harness]:
    """A dev server with the dashboard's pages, reached in process, on SQLite or PostgreSQL."""
    from surge.dashboard import dashboard_routes

    database = (
        str(tmp_path / "surge.db")
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    node = engine_on(database)
    async with asgi_harness(node, pages=dashboard_routes(node.engine)) as harness:
        yield harness


@pytest.fixture
async def asgi_server(tmp_path: Path) -> AsyncIterator[Harness]:
    """The real ASGI app with its lifespan, reached in process."""
    async with asgi_harness(make_engine(tmp_path)) as harness:
        yield harness


@pytest.fixture
def asgi_server_with(
    tmp_path: Path,
) -> Callable[..., contextlib.AbstractAsyncContextManager[Harness]]:
    """Factory: ``async with asgi_server_with(engine={...}, event_keys=...) as harness``."""

    def build(
        *, engine: dict[str, Any] | None = None, **app_options: Any
    ) -> contextlib.AbstractAsyncContextManager[Harness]:
        return asgi_harness(make_engine(tmp_path, **(engine or {})), **app_options)

    return build


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new PostgreSQL database (on ``SURGE_TEST_POSTGRES_URI``'s server), dropped after."""
    server = os.environ.get(
        "SURGE_TEST_POSTGRES_URI", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    name = f"surge_test_{secrets.token_hex(6)}"
    with psycopg.connect(server, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(server, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def asgi_node() -> Callable[[str], contextlib.AbstractAsyncContextManager[Harness]]:
    """Factory: ``async with asgi_node(url) as harness``: one server node of several sharing
    the PostgreSQL database at `url`."""

    def build(url: str) -> contextlib.AbstractAsyncContextManager[Harness]:
        return asgi_harness(engine_on(url, single_node=False))

    return build


@pytest.fixture
async def socket_server(tmp_path: Path) -> AsyncIterator[Harness]:
    """The real ASGI app served by uvicorn on a loopback port."""
    async with socket_harness(make_engine(tmp_path)) as harness:
        yield harness


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    """The server over a real socket, on SQLite and then on PostgreSQL."""
    if request.param == "sqlite":
        database = str(tmp_path / "surge.db")
    else:
        database = request.getfixturevalue("postgres_url")
    async with socket_harness(engine_on(database)) as harness:
        yield harness


@pytest.fixture
def socket_server_on() -> Callable[..., contextlib.AbstractAsyncContextManager[Harness]]:
    """Factory: ``async with socket_server_on(database, clock=..., **config) as server``."""

    def build(database: str, **options: Any) -> contextlib.AbstractAsyncContextManager[Harness]:
        return socket_harness(engine_on(database, **options))

    return build


@pytest.fixture
def serve_with(tmp_path: Path) -> Callable[..., contextlib.AbstractAsyncContextManager[str]]:
    """Factory: ``async with serve_with(http=...) as base_url``: a server on loopback with
    these uvicorn options."""

    def build(**options: Any) -> contextlib.AbstractAsyncContextManager[str]:
        return serve_on_loopback(create_app(make_engine(tmp_path).engine), **options)

    return build


@pytest.fixture(params=["asgi", "socket"])
async def server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    """The server reached in process, then over a real socket."""
    factory = asgi_harness if request.param == "asgi" else socket_harness
    async with factory(make_engine(tmp_path)) as harness:
        yield harness


# -- the scripted SDK app ---------------------------------------------------------------------


def python_sdk_rejects(raw: bytes) -> str | None:
    """Why inngest-py 0.5.19 would refuse this execution request body, or None if it accepts it.

    Without the inngest package nothing is checked; the test that relies on this skips then.
    """
    try:
        from inngest._internal.server_lib.execution_request import ServerRequest
    except ImportError:  # pragma: no cover - inngest is a dev dependency
        return None
    try:
        ServerRequest.model_validate_json(raw)
    except Exception as exc:
        return str(exc)
    return None


@dataclass
class Reply:
    """One scripted answer to an execution request."""

    status: int = 200
    body: Any = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    sdk: bool = True
    """Send `X-Inngest-Sdk` (a real SDK always does)."""
    version: str | None = "2"
    """`X-Inngest-Req-Version` to answer with; None leaves it out."""


@dataclass
class Received:
    """One execution request the scripted app received."""

    fn_id: str
    step_id: str
    query: str
    """The raw query string of the URL the server called."""
    headers: dict[str, str]
    raw: bytes
    body: Any
    sdk_parse_error: str | None
    """Why the Python SDK's strict request parser rejects this body, if it does."""

    @property
    def ctx(self) -> dict[str, Any]:
        ctx: dict[str, Any] = self.body["ctx"]
        return ctx

    @property
    def is_discovery(self) -> bool:
        return self.step_id == "step"


Handler = Callable[[Received], Reply | Awaitable[Reply]]


class ScriptedApp:
    """An SDK endpoint at `url` whose answers are scripted per function slug."""

    def __init__(self) -> None:
        self.url = ""
        self.requests: list[Received] = []
        self._scripts: dict[str, Handler] = {}

    # reply builders (`docs/protocol.md`, "The answer" and "Opcodes")

    Reply = Reply

    @staticmethod
    def ok(output: Any = None) -> Reply:
        return Reply(200, output)

    @staticmethod
    def ops(*opcodes: dict[str, Any]) -> Reply:
        return Reply(206, list(opcodes))

    @staticmethod
    def step_run(step_id: str, data: Any) -> dict[str, Any]:
        return {
            "op": "StepRun",
            "id": step_id,
            "name": step_id,
            "displayName": step_id,
            "data": data,
        }

    @staticmethod
    def step_planned(step_id: str) -> dict[str, Any]:
        return {"op": "StepPlanned", "id": step_id, "name": step_id, "displayName": step_id}

    @staticmethod
    def step_error(step_id: str, message: str) -> dict[str, Any]:
        error = {"name": "Error", "message": message, "stack": "at step"}
        return {"op": "StepError", "id": step_id, "name": step_id, "error": error}

    @staticmethod
    def op(kind: str, step_id: str, **fields: Any) -> dict[str, Any]:
        return {"op": kind, "id": step_id, **fields}

    @staticmethod
    def fn_error(
        message: str, *, status: int = 500, no_retry: bool | None = None, retry_after: str = ""
    ) -> Reply:
        headers = {}
        if no_retry is not None:
            headers["X-Inngest-No-Retry"] = "true" if no_retry else "false"
        if retry_after:
            headers["Retry-After"] = retry_after
        body = {"code": "unknown", "name": "Exception", "message": message, "stack": "trace"}
        return Reply(status, body, headers=headers)

    # scripting

    def script(self, slug: str, replies: Handler | list[Reply]) -> None:
        """Answer calls of `slug` with `replies` in order (the last repeats), or a handler."""
        if isinstance(replies, list):
            queue = list(replies)

            def next_reply(_: Received) -> Reply:
                return queue.pop(0) if len(queue) > 1 else queue[0]

            self._scripts[slug] = next_reply
        else:
            self._scripts[slug] = replies

    def calls(self, slug: str) -> list[Received]:
        return [r for r in self.requests if r.fn_id == slug]

    async def wait_calls(self, slug: str, count: int) -> list[Received]:
        async def check() -> list[Received] | None:
            calls = self.calls(slug)
            return calls if len(calls) >= count else None

        result: list[Received] = await wait_for(
            check, what=f"{count} calls of {slug}", last=lambda: self.calls(slug)
        )
        return result

    # registration

    def function(
        self,
        app_id: str,
        name: str,
        triggers: list[dict[str, Any]],
        *,
        retries: int | None = 0,
        url: str | None = None,
    ) -> dict[str, Any]:
        """A `functions[]` element as an SDK sends it (`docs/protocol.md`, "Sync")."""
        slug = f"{app_id}-{name}"
        step: dict[str, Any] = {
            "id": "step",
            "name": "step",
            "runtime": {"type": "http", "url": f"{url or self.url}?fnId={slug}&stepId=step"},
        }
        if retries is not None:
            step["retries"] = {"attempts": retries}
        return {"id": slug, "name": name, "triggers": triggers, "steps": {"step": step}}

    def register_body(
        self,
        app_id: str,
        functions: list[dict[str, Any]],
        *,
        key: str = "appName",
        url: str | None = None,
    ) -> dict[str, Any]:
        return {
            key: app_id,
            "url": url or self.url,
            "sdk": "py:v0.5.19",
            "v": "0.1",
            "framework": "fast_api",
            "deploy_type": "ping",
            "functions": functions,
        }

    async def register(
        self,
        harness: Harness,
        app_id: str,
        functions: list[dict[str, Any]],
        *,
        url: str | None = None,
    ) -> dict[str, Any]:
        """Sync `functions` as app `app_id`, served at `url` (this app's own by default)."""
        resp = await harness.client.post(
            "/fn/register",
            json=self.register_body(app_id, functions, url=url),
            headers={"X-Inngest-Sdk": SDK_HEADER},
        )
        assert resp.status_code == 200, f"register -> {resp.status_code}: {resp.text}"
        body: dict[str, Any] = resp.json()
        return body

    # the HTTP endpoint

    async def endpoint(self, request: Request) -> Response:
        query_string = urlsplit(str(request.url)).query
        query = parse_qs(query_string)
        raw = await request.body()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        received = Received(
            fn_id=query.get("fnId", [""])[0],
            step_id=query.get("stepId", [""])[0],
            query=query_string,
            headers={k.lower(): v for k, v in request.headers.items()},
            raw=raw,
            body=body,
            sdk_parse_error=python_sdk_rejects(raw),
        )
        self.requests.append(received)
        handler = self._scripts.get(received.fn_id)
        if handler is None:
            reply = self.fn_error(f"no script for {received.fn_id!r}", no_retry=True)
        else:
            outcome = handler(received)
            reply = await outcome if asyncio.iscoroutine(outcome) else outcome  # type: ignore[assignment]
        return self._render(reply)

    @staticmethod
    def _render(reply: Reply) -> Response:
        headers = dict(reply.headers)
        if reply.sdk:
            headers["X-Inngest-Sdk"] = SDK_HEADER
            headers["X-Inngest-Framework"] = "fast_api"
        if reply.version is not None:
            headers["X-Inngest-Req-Version"] = reply.version
        content = reply.raw if reply.raw is not None else orjson.dumps(reply.body)
        return Response(content, reply.status, headers, media_type="application/json")


@pytest.fixture
async def sdk_app() -> AsyncIterator[ScriptedApp]:
    scripted = ScriptedApp()
    app = Starlette(routes=[Route("/api/inngest", scripted.endpoint, methods=["POST"])])
    async with serve_on_loopback(app, lifespan="off") as base_url:
        scripted.url = f"{base_url}/api/inngest"
        yield scripted
