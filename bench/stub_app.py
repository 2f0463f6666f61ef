"""A minimal, very fast Inngest-protocol app for the fan-out benchmark (``bench/fanout.py``).

It answers execution calls with canned responses so that the server alone is the bottleneck:
a raw asyncio Protocol with the httptools parser, orjson for JSON, no framework.

Functions (app id ``bench``):

* ``bench-orchestrator`` on ``bench/start``: StepRun ``load`` (data = ``event.data.n``), then
  StepRun ``send`` (it POSTs ``n`` ``bench/item`` events to ``/e/bench`` in chunks of 5,000 and
  returns the ids), then 200.
* ``bench-worker`` on ``bench/item``: StepRun ``a``, StepRun ``b``, then 200 ``{"ok": true}``.
* ``bench-sleeper`` on ``bench/sleep``: Sleep until ``event.data.until`` (ISO), then 200; the
  app records how late each resumed call came (``sleep_lateness_ms``: from ``event.data.due``,
  epoch ms) and the due times in the order they came back (``/stats?full=1``).
* ``bench-waiter`` on ``bench/wait``: WaitForEvent ``bench/go.<event.data.g>`` with
  ``event.data.k == async.data.k`` for an hour, then 200.
  With ``--step-ms MS`` each of its two steps takes that long (the app counts how many run at
  once: ``peak_in_flight`` in ``/stats``); with ``--worker-concurrency N`` (and
  ``--worker-key EXPR``) it is registered with that concurrency limit (``bench/flow.py``).

The step to answer is chosen by the number of memoized steps in the request body.

Side endpoints for the benchmark driver (not part of the protocol):

* ``GET /stats``: call counters; ``GET /stats?full=1`` also the first-call wall time and
  event id of every run.
* ``GET /wait?final=K&timeout=S``: long-poll until ``K`` worker runs got their final call.
* ``GET /wait?event_id=X&timeout=S``: long-poll until the worker run of event ``X`` got its
  final call; answers its first-call time.

In production mode (``surge start``) give ``--signing-key`` (sent as ``Authorization: Bearer``
on ``/fn/register``) and ``--event-key`` (used in ``POST /e/{key}``); the server's request
signatures are not checked. With several ``--server`` URLs (nodes sharing one database) the app
registers with the first and spreads its event chunks over all of them in turn.

Usage: ``python bench/stub_app.py --port P --server http://127.0.0.1:S [--server ...]``
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import os
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httptools
import httpx
import orjson

APP_ID = "bench"
ORCHESTRATOR = "bench-orchestrator"
WORKER = "bench-worker"
SLEEPER = "bench-sleeper"
WAITER = "bench-waiter"
SEND_CHUNK = 5000
SDK_HEADER = b"stub:v0"


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def step_run(name: str, data: Any) -> list[dict[str, Any]]:
    return [{"op": "StepRun", "id": sha1(name), "name": name, "data": data}]


REASONS = {200: b"OK", 206: b"Partial Content", 400: b"Bad Request", 404: b"Not Found"}
BASE_HEADERS = (
    b"x-inngest-sdk: stub:v0\r\nx-inngest-req-version: 2\r\n"
    b"content-type: application/json\r\nconnection: keep-alive\r\n"
)
# The worker's answers never change: encode them once.
WORKER_ANSWERS = (
    (206, orjson.dumps(step_run("a", 1))),
    (206, orjson.dumps(step_run("b", 2))),
    (200, orjson.dumps({"ok": True})),
)


def http_response(status: int, body: bytes) -> bytes:
    head = b"HTTP/1.1 %d %s\r\n" % (status, REASONS.get(status, b"OK"))
    return head + BASE_HEADERS + b"content-length: %d\r\n\r\n" % len(body) + body


class Stats:
    """What the app saw, for the benchmark driver."""

    def __init__(self) -> None:
        self.calls = 0
        self.calls_by_fn: dict[str, int] = {}
        self.worker_final = 0
        self.first_call: dict[str, tuple[float, str | None]] = {}  # run id -> (wall, event id)
        self.final_by_event: dict[str, tuple[float, float]] = {}  # event id -> (first, final)
        self.send_calls = 0
        self.waiters: list[tuple[Any, asyncio.Future[Any]]] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self.answered: dict[str, float] = {}  # worker run id -> when its last call was answered
        self.gaps_ms: list[float] = []  # from a worker call's answer to the run's next call
        self.woke: list[tuple[int, float]] = []  # sleepers resumed: (due ms, when it came)
        self.parked = 0  # first calls answered with a sleep or a wait
        self.resumed = 0  # waiters called again after their wait

    def record(self, fn: str, run_id: str, event_id: str | None) -> None:
        self.calls += 1
        self.calls_by_fn[fn] = self.calls_by_fn.get(fn, 0) + 1
        if run_id not in self.first_call:
            self.first_call[run_id] = (time.time(), event_id)

    def final(self, run_id: str, event_id: str | None) -> None:
        self.worker_final += 1
        if event_id is not None:
            self.final_by_event[event_id] = (self.first_call[run_id][0], time.time())
        self.waiters = [(check, fut) for check, fut in self.waiters if not _settle(check, fut)]

    def snapshot(self, full: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "calls": self.calls,
            "calls_by_fn": self.calls_by_fn,
            "worker_final": self.worker_final,
            "runs": len(self.first_call),
            "peak_in_flight": self.peak_in_flight,
            "gap_ms": _quantiles(self.gaps_ms),
            "parked": self.parked,
            "woke": len(self.woke),
            "resumed": self.resumed,
        }
        if full:
            out["first_call"] = self.first_call
            out["woke_due"] = self.woke
        return out

    async def wait(self, check: Any, timeout: float) -> Any:
        result = check()
        if result is not None:
            return result
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiters.append((check, fut))
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            return None


def _quantiles(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    ordered = sorted(values)
    at = lambda q: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)  # noqa: E731
    return {"p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "n": len(ordered)}


def _settle(check: Any, fut: asyncio.Future[Any]) -> bool:
    if fut.done():
        return True
    result = check()
    if result is None:
        return False
    fut.set_result(result)
    return True


class StubApp:
    def __init__(
        self,
        port: int,
        servers: list[str],
        signing_key: str | None,
        event_key: str,
        *,
        step_ms: float = 0.0,
        concurrency: dict[str, Any] | None = None,
    ) -> None:
        self.step_s = step_ms / 1000
        self.concurrency = concurrency
        self.port = port
        self.servers = [server.rstrip("/") for server in servers]
        self.server = self.servers[0]
        self.auth = {"authorization": f"Bearer {signing_key}"} if signing_key else {}
        self.event_key = event_key
        self.url = f"http://127.0.0.1:{port}/api/inngest"
        self.stats = Stats()
        self.client = httpx.AsyncClient(timeout=120.0)

    # --- protocol -------------------------------------------------------------------------

    async def handle(self, method: bytes, target: bytes, body: bytes) -> bytes:
        parts = urlsplit(target.decode())
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/api/inngest":
            if method == b"POST":
                return await self.execute(query.get("fnId", ""), body)
            if method == b"PUT":
                return await self.register()
            return http_response(200, b'{"function_count":2,"mode":"dev"}')
        if parts.path == "/stats":
            return http_response(200, orjson.dumps(self.stats.snapshot("full" in query)))
        if parts.path == "/wait":
            return await self.wait(query)
        return http_response(404, b'{"error":"not found"}')

    async def register(self) -> bytes:
        def fn(slug: str, event: str) -> dict[str, Any]:
            url = f"{self.url}?fnId={slug}&stepId=step"
            step = {"id": "step", "name": "step", "runtime": {"type": "http", "url": url}}
            return {
                "id": slug,
                "name": slug,
                "triggers": [{"event": event}],
                "steps": {"step": {**step, "retries": {"attempts": 3}}},
            }

        worker = fn(WORKER, "bench/item")
        if self.concurrency is not None:
            worker["concurrency"] = [self.concurrency]
        parkers = [fn(SLEEPER, "bench/sleep"), fn(WAITER, "bench/wait")]
        payload = {
            "appname": APP_ID,
            "deploy_type": "ping",
            "url": self.url,
            "sdk": "stub:v0",
            "v": "0.1",
            "framework": "stub",
            "functions": [fn(ORCHESTRATOR, "bench/start"), worker, *parkers],
        }
        resp = await self.client.post(
            f"{self.server}/fn/register",
            content=orjson.dumps(payload),
            headers={"content-type": "application/json", "x-inngest-sdk": "stub:v0", **self.auth},
        )
        return http_response(200, resp.content)

    async def execute(self, fn: str, body: bytes) -> bytes:
        req = orjson.loads(body)
        memos = len(req.get("steps") or {})
        event = req.get("event") or {}
        run_id = req["ctx"]["run_id"]
        event_id = event.get("id")
        self.stats.record(fn, run_id, event_id)
        if fn == WORKER:
            previous = self.stats.answered.pop(run_id, None)
            if previous is not None:
                self.stats.gaps_ms.append((time.monotonic() - previous) * 1000)
            if memos < 2 and self.step_s:
                await self.work()
            if memos < 2:
                self.stats.answered[run_id] = time.monotonic()
            status, answer = WORKER_ANSWERS[min(memos, 2)]
            if memos >= 2:
                self.stats.final(run_id, event_id)
            return http_response(status, answer)
        if fn == ORCHESTRATOR:
            if memos == 0:
                n = int((event.get("data") or {}).get("n", 0))
                return http_response(206, orjson.dumps(step_run("load", n)))
            if memos == 1:
                n = next(iter(req["steps"].values()))["data"]
                ids = await self.send_items(n)
                return http_response(206, orjson.dumps(step_run("send", ids)))
            return http_response(200, b'{"ok":true}')
        if fn in (SLEEPER, WAITER):
            return self.park(fn, memos, event.get("data") or {})
        return http_response(400, b'{"code":"function_not_found","message":"unknown fnId"}')

    def park(self, fn: str, memos: int, data: dict[str, Any]) -> bytes:
        """A sleeper's or a waiter's call: the sleep or wait first, then the end."""
        if memos == 0:
            self.stats.parked += 1
            if fn == SLEEPER:
                op = {"op": "Sleep", "id": sha1("nap"), "name": data["until"]}
            else:
                op = {
                    "op": "WaitForEvent",
                    "id": sha1("wait"),
                    "name": f"bench/go.{data['g']}",
                    "opts": {"timeout": "1h", "if": "event.data.k == async.data.k"},
                }
            return http_response(206, orjson.dumps([op]))
        if fn == SLEEPER:
            self.stats.woke.append((int(data["due"]), time.time() * 1000))
        else:
            self.stats.resumed += 1
        return http_response(200, b'{"ok":true}')

    async def work(self) -> None:
        """One step of the worker, taking `step_s`; counts the steps running at once."""
        stats = self.stats
        stats.in_flight += 1
        stats.peak_in_flight = max(stats.peak_in_flight, stats.in_flight)
        try:
            await asyncio.sleep(self.step_s)
        finally:
            stats.in_flight -= 1

    async def send_items(self, n: int) -> list[str]:
        """POST ``n`` events, ``SEND_CHUNK`` per request as the SDK does, to each server in turn."""
        self.stats.send_calls += 1
        ids: list[str] = []
        for chunk, start in enumerate(range(0, n, SEND_CHUNK)):
            server = self.servers[chunk % len(self.servers)]
            now = int(time.time() * 1000)
            events = [
                {"name": "bench/item", "data": {"i": i}, "ts": now}
                for i in range(start, min(n, start + SEND_CHUNK))
            ]
            seed = f"{now},{base64.b64encode(os.urandom(10)).decode()}"
            resp = await self.client.post(
                f"{server}/e/{self.event_key}",
                content=orjson.dumps(events),
                headers={"content-type": "application/json", "x-inngest-event-id-seed": seed},
            )
            resp.raise_for_status()
            ids.extend(resp.json()["ids"])
        return ids

    async def wait(self, query: dict[str, str]) -> bytes:
        timeout = float(query.get("timeout", "10"))
        stats = self.stats
        if "event_id" in query:
            event_id = query["event_id"]

            def check() -> Any:
                return stats.final_by_event.get(event_id)
        else:
            target = int(query.get("final", "0"))

            def check() -> Any:
                return stats.worker_final if stats.worker_final >= target else None

        result = await stats.wait(check, timeout)
        return http_response(200, orjson.dumps({"result": result, **stats.snapshot(False)}))


class HttpProtocol(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; requests are answered in order."""

    def __init__(self, app: StubApp) -> None:
        self.app = app
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []
        self.pending: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        method = self.parser.get_method()
        url, body = self.url, b"".join(self.body)
        self.url, self.body = b"", []
        previous = self.pending
        self.pending = asyncio.ensure_future(self.respond(previous, method, url, body))

    async def respond(
        self, previous: asyncio.Future[None] | None, method: bytes, url: bytes, body: bytes
    ) -> None:
        try:
            answer = await self.app.handle(method, url, body)
        except Exception as exc:  # a bug in the stub: tell the caller, keep serving
            answer = http_response(400, orjson.dumps({"error": repr(exc)}))
        if previous is not None:
            await previous
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(answer)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--server", required=True, action="append", help="Surge base URL (repeatable)"
    )
    parser.add_argument("--signing-key", help="send it as the bearer token (surge start)")
    parser.add_argument("--event-key", default="bench", help="key in POST /e/{key}")
    parser.add_argument("--step-ms", type=float, default=0.0, help="each worker step's duration")
    parser.add_argument("--worker-concurrency", type=int, default=0, help="the worker's limit")
    parser.add_argument("--worker-key", help="the worker's concurrency key (a CEL expression)")
    args = parser.parse_args()
    concurrency: dict[str, Any] | None = None
    if args.worker_concurrency:
        concurrency = {"limit": args.worker_concurrency}
        if args.worker_key:
            concurrency["key"] = args.worker_key
    app = StubApp(
        args.port,
        args.server,
        args.signing_key,
        args.event_key,
        step_ms=args.step_ms,
        concurrency=concurrency,
    )
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: HttpProtocol(app), "127.0.0.1", args.port, reuse_address=True, backlog=1024
    )
    print(f"stub app listening on {app.url}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(main())
    except KeyboardInterrupt:
        pass
