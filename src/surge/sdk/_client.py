"""The `Surge` client: configuration, function registration, and sending events."""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar, overload
from urllib.parse import quote

import httpx

from surge.core.http_client import AppClient
from surge.core.run_errors import EventSendError

from ._config import Config, Mode, resolve_config
from ._context import Context, SyncContext
from ._event import EventType
from ._function import Function, FunctionOptions, TriggerLike, failure_function, normalize_triggers
from ._options import (
    Batch,
    Cancel,
    Concurrency,
    Debounce,
    Priority,
    RateLimit,
    Singleton,
    Throttle,
    Timeouts,
)
from ._send import Events, Sender, prepare_events
from ._version import SDK_HEADER

__all__ = ["FunctionDecorator", "Surge"]

T = TypeVar("T")
HTTP_TIMEOUT = 30.0

FailureHandler = Callable[[Context[Any]], Awaitable[Any]] | Callable[[SyncContext[Any]], Any]


class FunctionDecorator(Protocol):
    """What `Surge.create_function` returns: turns a handler into a `Function`."""

    @overload
    def __call__(self, handler: Callable[[Context[Any]], Awaitable[T]], /) -> Function[T]: ...
    @overload
    def __call__(self, handler: Callable[[SyncContext[Any]], T], /) -> Function[T]: ...


class _Decorator:
    __slots__ = ("_make",)

    def __init__(self, make: Callable[[Callable[[Any], Any]], Function[Any]]) -> None:
        self._make = make

    def __call__(self, handler: Callable[[Any], Any], /) -> Function[Any]:
        return self._make(handler)


class Surge:
    """A Surge app: create functions with it, serve them with an adapter, send events.

    Args:
        app_id: The app's id; function ids on the server are ``"<app_id>-<fn_id>"``.
        mode: ``"dev"`` or ``"production"``; else ``SURGE_DEV``/``INNGEST_DEV`` decide
            (set to ``1`` or to the server URL for dev), and production is the default.
        api_origin: Server API origin (``SURGE_API_BASE_URL``, ``SURGE_BASE_URL``...).
        event_api_origin: Event API origin (``SURGE_EVENT_API_BASE_URL``...).
        event_key: Key for sending events (``SURGE_EVENT_KEY``, ``INNGEST_EVENT_KEY``).
        signing_key: Verifies server requests in production (``SURGE_SIGNING_KEY``...).
        signing_key_fallback: A second accepted key while rotating.
        env: Environment name sent as ``X-Inngest-Env``.
        serve_origin: Public origin of the app, if requests arrive through a proxy.
        serve_path: Public path of the serve endpoint, likewise.
        app_version: Optional version string sent on sync.
        logger: Base logger of ``ctx.logger``; ``logging.getLogger("surge")`` by default.
        checkpointing: Run a function's consecutive steps in one call, reporting each to the
            server as it finishes (on by default; ``False`` turns it off for every function,
            ``create_function(checkpointing=...)`` for one).
    """

    def __init__(
        self,
        app_id: str,
        *,
        mode: Mode | None = None,
        api_origin: str | None = None,
        event_api_origin: str | None = None,
        event_key: str | None = None,
        signing_key: str | None = None,
        signing_key_fallback: str | None = None,
        env: str | None = None,
        serve_origin: str | None = None,
        serve_path: str | None = None,
        app_version: str | None = None,
        logger: logging.Logger | None = None,
        checkpointing: bool = True,
    ) -> None:
        self.app_id = app_id
        self.checkpointing = checkpointing
        self.app_version = app_version
        self.config: Config = resolve_config(
            mode=mode,
            api_origin=api_origin,
            event_api_origin=event_api_origin,
            event_key=event_key,
            signing_key=signing_key,
            signing_key_fallback=signing_key_fallback,
            env=env,
            serve_origin=serve_origin,
            serve_path=serve_path,
        )
        self.logger = logger or logging.getLogger("surge")
        self.typed_events: dict[str, EventType[Any]] = {}
        self._sender = Sender(
            f"{self.config.event_origin}/e/{quote(self.config.event_key, safe='')}",
            {
                "Content-Type": "application/json",
                "X-Inngest-Sdk": SDK_HEADER,
                "User-Agent": SDK_HEADER,
            },
        )
        self._async_http: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient]
        self._async_http = weakref.WeakKeyDictionary()
        self._sync_http: httpx.Client | None = None
        self._checkpoint_http: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AppClient]
        self._checkpoint_http = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Surge(app_id={self.app_id!r}, mode={self.config.mode!r})"

    # -- functions --------------------------------------------------------------------------

    def create_function(
        self,
        *,
        fn_id: str,
        trigger: TriggerLike | Sequence[TriggerLike] | None = None,
        name: str | None = None,
        retries: int | None = None,
        concurrency: int | Concurrency | Sequence[Concurrency] | None = None,
        throttle: Throttle | None = None,
        rate_limit: RateLimit | None = None,
        debounce: Debounce | None = None,
        batch_events: Batch | None = None,
        priority: Priority | str | None = None,
        idempotency: str | None = None,
        cancel: Cancel | Sequence[Cancel] | None = None,
        timeouts: Timeouts | None = None,
        singleton: Singleton | None = None,
        on_failure: FailureHandler | None = None,
        checkpointing: bool | None = None,
    ) -> FunctionDecorator:
        """Decorate an ``async def`` or plain ``def`` handler into a durable `Function`.

        Args:
            fn_id: The function's id within the app.
            trigger: An event name, `TriggerEvent`, `TriggerCron`, typed `EventType`, or a
                list of them.
            name: Display name (default: `fn_id`).
            retries: Retries per step and per call (default 4, i.e. 5 attempts; max 20).
            concurrency: Limit of steps executing at once: an int, `Concurrency` (with a
                ``key`` for one limit per value, a ``scope`` to share it), or a list of two.
            throttle: `Throttle` run starts: ``limit + burst`` at once, then one every
                ``period / limit``; excess runs wait in order, none is dropped.
            rate_limit: `RateLimit` run starts: events past the limit start no run of this
                function (recorded as a run with status ``Skipped``, ``rate_limit``).
            debounce: `Debounce`: one run with the last event, once events (per key) stop
                arriving for ``period`` or ``timeout`` after the first.
            batch_events: `Batch`: one run with up to ``max_size`` events (`Context.events`),
                started when full or ``timeout`` after the first.
            priority: `Priority` (or its CEL expression): seconds (-600 to 600) a run's start
                moves ahead of (or, negative, behind) runs queued at the same time.
            idempotency: CEL key: one run per key value per 24 h; later events are recorded
                as ``Skipped`` runs (``idempotency``).
            cancel: `Cancel` a run when a matching event arrives (within ``timeout``, if
                set): queued, sleeping and waiting runs at once; a step in flight keeps
                its result, and nothing after it runs.
            timeouts: `Timeouts`: a run not begun within ``start`` of its event, or not
                ended within ``finish``, is cancelled (its error says which).
            singleton: `Singleton` run per key: while one runs, a new one is skipped
                (``mode="skip"``, recorded as ``Skipped``, ``singleton``) or replaces it
                (``mode="cancel"``: the running one is cancelled).

        The server logs a warning when an app syncs a function using an option it does not
        enforce, and `GET /dev` lists them per function (``notEnforced``).
            on_failure: Handler run (as ``"<fn_id>-failure"``) when a run fails for good;
                its ``ctx.event.data`` holds ``function_id``, ``run_id``, ``error``, ``event``.
            checkpointing: Run consecutive steps in one call, reporting each to the server as
                it finishes (default: the client's ``checkpointing``, on).
        """
        triggers, typed = normalize_triggers(trigger)
        self.typed_events.update(typed)
        options = FunctionOptions(
            concurrency=concurrency,
            throttle=throttle,
            rate_limit=rate_limit,
            debounce=debounce,
            batch_events=batch_events,
            priority=priority,
            idempotency=idempotency,
            cancel=cancel,
            timeouts=timeouts,
            singleton=singleton,
        )

        def make(handler: Callable[[Any], Any]) -> Function[Any]:
            display = name or fn_id
            failure = (
                failure_function(self.app_id, fn_id, display, on_failure) if on_failure else None
            )
            return Function(
                app_id=self.app_id,
                fn_id=fn_id,
                name=display,
                handler=handler,
                triggers=triggers,
                typed=typed,
                options=options,
                retries=retries,
                on_failure=failure,
                checkpointing=self.checkpointing if checkpointing is None else checkpointing,
            )

        return _Decorator(make)

    # -- events -----------------------------------------------------------------------------

    async def send(self, events: Events) -> list[str]:
        """Send one event or a list; return the ids the server assigned, in order.

        Lists are split to fit the server's limits. A failed request is retried with the
        same ``X-Inngest-Event-Id-Seed``, so a retry never duplicates an event.

        Raises:
            EventSendError: The server refused the events or could not be reached.
            EventDataInvalid: A typed event's data does not match its model.
        """
        self._check_key()
        return await self._sender.send_async(
            self.http_async(), prepare_events(events, self.typed_events)
        )

    def send_sync(self, events: Events) -> list[str]:
        """`send`, for code without an event loop."""
        self._check_key()
        return self._sender.send_sync(self.http_sync(), prepare_events(events, self.typed_events))

    async def send_prepared(self, events: list[dict[str, Any]]) -> list[str]:
        """Send events already in wire form (as `step.send_event` does)."""
        self._check_key()
        return await self._sender.send_async(self.http_async(), events)

    def send_prepared_sync(self, events: list[dict[str, Any]]) -> list[str]:
        """Send events already in wire form, without an event loop."""
        self._check_key()
        return self._sender.send_sync(self.http_sync(), events)

    def _check_key(self) -> None:
        if not self.config.event_key:
            raise EventSendError(
                "no event key: pass event_key= or set SURGE_EVENT_KEY (or INNGEST_EVENT_KEY)"
            )

    # -- HTTP clients -----------------------------------------------------------------------

    def http_async(self) -> httpx.AsyncClient:
        """The pooled async HTTP client of the running event loop."""
        loop = asyncio.get_running_loop()
        client = self._async_http.get(loop)
        if client is None:
            client = self._async_http[loop] = httpx.AsyncClient(timeout=HTTP_TIMEOUT)
        return client

    def checkpoint_http(self) -> AppClient:
        """The running loop's lean keep-alive client, for checkpoints (one per step)."""
        loop = asyncio.get_running_loop()
        client = self._checkpoint_http.get(loop)
        if client is None:
            client = self._checkpoint_http[loop] = AppClient(timeout=HTTP_TIMEOUT)
        return client

    def http_sync(self) -> httpx.Client:
        """The pooled sync HTTP client (thread-safe)."""
        if self._sync_http is None:
            with self._lock:
                if self._sync_http is None:
                    self._sync_http = httpx.Client(timeout=HTTP_TIMEOUT)
        return self._sync_http

    async def aclose(self) -> None:
        """Close the HTTP clients of the running loop and the sync one."""
        loop = asyncio.get_running_loop()
        client = self._async_http.pop(loop, None)
        if client is not None:
            await client.aclose()
        lean = self._checkpoint_http.pop(loop, None)
        if lean is not None:
            await lean.close()
        self.close()

    def close(self) -> None:
        """Close the sync HTTP client."""
        if self._sync_http is not None:
            self._sync_http.close()
            self._sync_http = None
