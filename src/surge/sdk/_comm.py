"""The serve endpoint, framework-free: GET introspection, PUT sync, POST execution (§1, §2, §4).

Adapters turn their framework's request into a `CommRequest`, call `Comm.handle` (async
frameworks) or `Comm.handle_sync` (sync ones), and write the `CommResponse` back.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from surge.core.errors import InvalidInput
from surge.core.signing import hashed_key, signature, verify_signature

from ._checkpoint import Checkpoint
from ._client import Surge
from ._execution import Call, Outcome, parse_call, run_async, run_sync
from ._function import Function
from ._version import REQ_VERSION, SDK_HEADER, SDK_NAME, VERSION

__all__ = ["Comm", "CommRequest", "CommResponse"]

SCHEMA_VERSION = "2024-05-24"


CAPABILITIES = {"in_band_sync": "v1", "trust_probe": "v1", "step_input": "v1"}
"""What the SDK can do, told at sync; ``step_input``: a step runs with an edited input."""


@dataclass(frozen=True, kw_only=True, slots=True)
class CommRequest:
    """A request to the serve endpoint. Header names must be lower-case."""

    method: str
    url: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes


@dataclass(slots=True)
class CommResponse:
    """The answer to write back."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class _Execute:
    fn: Function[Any]
    call: Call
    target: str | None
    verified: bool


@dataclass(frozen=True, slots=True)
class _Register:
    url: str
    headers: dict[str, str]
    body: bytes


class Comm:
    """Serves a client's functions over any HTTP framework."""

    def __init__(self, client: Surge, functions: Sequence[Function[Any]], framework: str) -> None:
        client.config.require_signing_key()
        self.client = client
        self.config = client.config
        self.framework = framework
        self.functions: dict[str, Function[Any]] = {}
        for function in functions:
            for fn in function.all_functions():
                if fn.slug in self.functions:
                    raise InvalidInput(f"function id {fn.slug!r} is served twice", field="fn_id")
                self.functions[fn.slug] = fn
        self._headers = {
            "content-type": "application/json",
            "x-inngest-sdk": SDK_HEADER,
            "x-inngest-req-version": REQ_VERSION,
            "x-inngest-framework": framework,
            "x-inngest-sdk-handled": "true",
            "x-inngest-expected-server-kind": self.config.server_kind,
        }
        self._keys = self.config.signing_keys()
        self._api_headers = {"x-inngest-sdk": SDK_HEADER, **_bearer(self.config.signing_key)}
        if self.config.env:
            self._api_headers["x-inngest-env"] = self.config.env
        self._send_async = client.send_prepared
        self._send_sync = client.send_prepared_sync

    # -- entry points -----------------------------------------------------------------------

    async def handle(self, request: CommRequest) -> CommResponse:
        """Answer one request (async frameworks)."""
        started = time.perf_counter()
        plan = self._plan(request)
        if isinstance(plan, _Execute):
            call = plan.call
            if call.use_api:
                await self._fetch_async(call)
            if plan.fn.is_async:
                outcome = await run_async(
                    plan.fn,
                    call,
                    plan.target,
                    send=self._send_async,
                    logger=self.client.logger,
                    checkpoint=self._checkpoint(plan),
                )
            else:
                outcome = await asyncio.to_thread(self._run_sync, plan)
            return self._outcome(outcome, plan.verified, started)
        if isinstance(plan, _Register):
            return await self._register_async(plan, started)
        return plan

    def handle_sync(self, request: CommRequest) -> CommResponse:
        """Answer one request in the calling thread (sync frameworks)."""
        started = time.perf_counter()
        plan = self._plan(request)
        if isinstance(plan, _Execute):
            if plan.call.use_api:
                self._fetch_sync(plan.call)
            if plan.fn.is_async:
                outcome = asyncio.run(
                    run_async(
                        plan.fn,
                        plan.call,
                        plan.target,
                        send=self._send_in_thread,
                        logger=self.client.logger,
                        checkpoint=self._checkpoint(plan),
                    )
                )
            else:
                outcome = self._run_sync(plan)
            return self._outcome(outcome, plan.verified, started)
        if isinstance(plan, _Register):
            return self._register_sync(plan, started)
        return plan

    async def _send_in_thread(self, events: list[dict[str, Any]]) -> list[str]:
        # A loop made for one request by a sync framework: keep no pooled client on it.
        return await asyncio.to_thread(self._send_sync, events)

    def _run_sync(self, plan: _Execute) -> Outcome:
        return run_sync(
            plan.fn,
            plan.call,
            plan.target,
            send=self._send_sync,
            logger=self.client.logger,
            checkpoint=self._checkpoint(plan),
        )

    def _checkpoint(self, plan: _Execute) -> Checkpoint | None:
        """Where the call reports its steps, when it may run several (`_checkpoint`)."""
        call = plan.call
        if not (plan.fn.checkpointing and call.may_checkpoint(plan.target)):
            return None
        return Checkpoint(
            self.client,
            run_id=call.run_id,
            fn_id=call.fn_id,
            qi_id=call.qi_id,
            headers=self._api_headers,
        )

    # -- routing ----------------------------------------------------------------------------

    def _plan(self, request: CommRequest) -> CommResponse | _Execute | _Register:
        method = request.method.upper()
        if method == "POST":
            return self._plan_post(request)
        if method == "GET":
            return self._introspect(request)
        if method == "PUT":
            return self._plan_put(request)
        return self._json(405, {"message": f"method {method} is not supported"})

    def _verified(self, request: CommRequest) -> bool:
        return verify_signature(
            request.headers.get("x-inngest-signature"), request.body, self._keys
        )

    def _plan_post(self, request: CommRequest) -> CommResponse | _Execute:
        verified = False
        if not self.config.is_dev:
            verified = self._verified(request)
            if not verified:
                return self._json(401, {"message": "Unauthorized"})
        query = request.query
        probe = query.get("probe")
        if probe is not None:
            if probe == "trust":
                return self._respond(200, b"", signed=verified)
            return self._json(400, {"code": "unknown_probe", "message": f"unknown probe {probe!r}"})
        fn_id = query.get("fnId") or ""
        fn = self.functions.get(fn_id)
        if fn is None:
            return self._json(
                500,
                {
                    "code": "function_not_found",
                    "name": "FunctionNotFound",
                    "message": f"function {fn_id!r} is not served by app {self.client.app_id!r}",
                },
            )
        try:
            call = parse_call(request.body)
        except InvalidInput as exc:
            return self._json(400, {"code": "invalid_request", "message": exc.message})
        step_id = query.get("stepId") or request.headers.get("x-inngest-step-id") or "step"
        return _Execute(fn, call, None if step_id == "step" else step_id, verified)

    def _outcome(self, outcome: Outcome, verified: bool, started: float) -> CommResponse:
        response = self._respond(outcome.status, outcome.body, signed=verified, started=started)
        response.headers.update(outcome.headers)
        return response

    # -- introspection ----------------------------------------------------------------------

    def _introspect(self, request: CommRequest) -> CommResponse:
        kind = request.headers.get("x-inngest-server-kind")
        if kind and kind != self.config.server_kind:
            return self._json(403, {})
        config = self.config
        body: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "function_count": len(self.functions),
            "has_event_key": bool(config.event_key) and config.event_key != "NO_EVENT_KEY_SET",
            "has_signing_key": bool(config.signing_key),
            "has_signing_key_fallback": bool(config.signing_key_fallback),
            "mode": config.server_kind,
        }
        if config.is_dev:
            return self._json(200, body)
        if not self._verified(request):
            return self._json(401, {"message": "Unauthorized"})
        body.update(self._authenticated_fields(request))
        return self._json(200, body, signed=True)

    def _authenticated_fields(self, request: CommRequest) -> dict[str, Any]:
        config = self.config
        serve = self._serve_url(request)
        origin, _, path = serve.partition("://")[2].partition("/")
        return {
            "authentication_succeeded": True,
            "api_origin": config.api_origin,
            "app_id": self.client.app_id,
            "capabilities": CAPABILITIES,
            "env": config.env,
            "event_api_origin": config.event_origin,
            "event_key_hash": hashlib.sha256(config.event_key.encode()).hexdigest()
            if config.event_key
            else None,
            "framework": self.framework,
            "sdk_language": "py",
            "sdk_version": VERSION,
            "serve_origin": serve.split("://")[0] + "://" + origin,
            "serve_path": "/" + path,
            "signing_key_hash": hashed_key(config.signing_key) if config.signing_key else None,
            "signing_key_fallback_hash": hashed_key(config.signing_key_fallback)
            if config.signing_key_fallback
            else None,
        }

    # -- sync -------------------------------------------------------------------------------

    def _serve_url(self, request: CommRequest) -> str:
        base = request.url.split("?", 1)[0]
        origin = self.config.serve_origin
        path = self.config.serve_path
        if origin is None and path is None:
            return base
        scheme, _, rest = base.partition("://")
        host, _, own_path = rest.partition("/")
        return (origin or f"{scheme}://{host}").rstrip("/") + (path or "/" + own_path)

    def register_body(self, url: str) -> dict[str, Any]:
        """The body of ``POST /fn/register`` for serving at `url` (§1.3)."""
        body: dict[str, Any] = {
            "appName": self.client.app_id,
            "deployType": "ping",
            "url": url,
            "sdk": SDK_NAME,
            "v": "0.1",
            "framework": self.framework,
            "functions": [fn.config(url) for fn in self.functions.values()],
            "capabilities": CAPABILITIES,
        }
        if self.client.app_version:
            body["appVersion"] = self.client.app_version
        return body

    def _plan_put(self, request: CommRequest) -> CommResponse | _Register:
        kind = request.headers.get("x-inngest-server-kind")
        if kind and kind != self.config.server_kind:
            message = f"this app runs in {self.config.server_kind} mode; the server is {kind}"
            return self._json(400, {"code": "server_kind_mismatch", "message": message})
        url = self._serve_url(request)
        in_band = request.headers.get("x-inngest-sync-kind") == "in_band"
        if in_band and not self.config.is_dev and self._verified(request):
            return self._in_band(url)
        headers = {
            "Content-Type": "application/json",
            "X-Inngest-Sdk": SDK_HEADER,
            "User-Agent": SDK_HEADER,
            "X-Inngest-Framework": self.framework,
            "X-Inngest-Req-Version": REQ_VERSION,
            "X-Inngest-Sync-Kind": "out_of_band",
            **_bearer(self.config.signing_key),
        }
        if kind:
            headers["X-Inngest-Expected-Server-Kind"] = kind
        if self.config.env:
            headers["X-Inngest-Env"] = self.config.env
        target = f"{self.config.api_origin}/fn/register"
        deploy_id = request.query.get("deployId")
        if deploy_id:
            target += f"?deployId={deploy_id}"
        return _Register(target, headers, orjson.dumps(self.register_body(url)))

    def _in_band(self, url: str) -> CommResponse:
        body = self.register_body(url)
        reply = {
            "app_id": self.client.app_id,
            "env": self.config.env,
            "framework": self.framework,
            "functions": body["functions"],
            "inspection": {"schema_version": SCHEMA_VERSION, "function_count": len(self.functions)},
            "platform": None,
            "sdk_author": "surge",
            "sdk_language": "py",
            "sdk_version": VERSION,
            "url": url,
        }
        response = self._json(200, reply, signed=True)
        response.headers["x-inngest-sync-kind"] = "in_band"
        return response

    async def _register_async(self, plan: _Register, started: float) -> CommResponse:
        try:
            reply = await self.client.http_async().post(
                plan.url, content=plan.body, headers=plan.headers
            )
        except httpx.HTTPError as exc:
            return self._sync_failed(plan, exc)
        return self._relay(reply, started)

    def _register_sync(self, plan: _Register, started: float) -> CommResponse:
        try:
            reply = self.client.http_sync().post(plan.url, content=plan.body, headers=plan.headers)
        except httpx.HTTPError as exc:
            return self._sync_failed(plan, exc)
        return self._relay(reply, started)

    def _sync_failed(self, plan: _Register, exc: Exception) -> CommResponse:
        message = f"could not reach the server at {plan.url}: {exc}"
        return self._json(500, {"code": "registration_failed", "message": message})

    def _relay(self, reply: httpx.Response, started: float) -> CommResponse:
        try:
            body = reply.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            message = f"the server answered HTTP {reply.status_code}: {reply.text[:300]!r}"
            return self._json(500, {"code": "registration_failed", "message": message})
        if "message" not in body:
            body["message"] = body.get("error") or "Successfully registered"
        response = self._json(reply.status_code, body)
        response.headers["x-inngest-sync-kind"] = "out_of_band"
        return response

    # -- use_api ----------------------------------------------------------------------------

    def _api_urls(self, call: Call) -> tuple[str, str, dict[str, str]]:
        base = f"{self.config.api_origin}/v0/runs/{call.run_id}"
        headers = {"X-Inngest-Sdk": SDK_HEADER, **_bearer(self.config.signing_key)}
        return f"{base}/batch", f"{base}/actions", headers

    async def _fetch_async(self, call: Call) -> None:
        batch, actions, headers = self._api_urls(call)
        http = self.client.http_async()
        events, steps = await asyncio.gather(
            http.get(batch, headers=headers), http.get(actions, headers=headers)
        )
        _apply(call, events, steps)

    def _fetch_sync(self, call: Call) -> None:
        batch, actions, headers = self._api_urls(call)
        http = self.client.http_sync()
        _apply(call, http.get(batch, headers=headers), http.get(actions, headers=headers))

    # -- responses --------------------------------------------------------------------------

    def _json(self, status: int, body: Any, *, signed: bool = False) -> CommResponse:
        return self._respond(status, orjson.dumps(body), signed=signed)

    def _respond(
        self, status: int, body: bytes, *, signed: bool = False, started: float | None = None
    ) -> CommResponse:
        headers = dict(self._headers)
        if started is not None:
            headers["server-timing"] = f"handler;dur={(time.perf_counter() - started) * 1000:.1f}"
        if signed and self.config.signing_key:
            headers["x-inngest-signature"] = signature(body, self.config.signing_key)
        return CommResponse(status, headers, body)


def _bearer(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {hashed_key(key)}"} if key else {}


def _apply(call: Call, events: httpx.Response, steps: httpx.Response) -> None:
    events.raise_for_status()
    steps.raise_for_status()
    call.events = events.json() or call.events
    call.steps = steps.json() or {}
