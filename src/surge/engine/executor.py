"""Calling apps: build the request for a work item, send it, commit what it produced."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from surge.core import codec
from surge.core.errors import NotFound, StaleLease
from surge.core.functions import FunctionConfig
from surge.core.signing import canonical_json, signature
from surge.storage import Commit, Memo, RunState, RunStatus, Storage, Then, WorkItem
from surge.storage.records import DISCOVERY

from .app_client import AppClient, AppUnreachable
from .finish import EntryFactory, error_value, finish_run
from .registry import Registry
from .responses import Call, interpret
from .retries import RetryPolicy

logger = logging.getLogger(__name__)

USE_API_THRESHOLD = 4 * 1024 * 1024
"""Above this request size, events and memos are fetched by the SDK through the REST API."""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Executor:
    """Runs `CALL` and `WAKE` work items."""

    def __init__(
        self,
        *,
        storage: Storage,
        registry: Registry,
        client: AppClient,
        policy: RetryPolicy,
        entry_for: EntryFactory,
        signing_key: str | None = None,
    ) -> None:
        self._signing_key = signing_key
        self._storage = storage
        self._registry = registry
        self._client = client
        self._policy = policy
        self._entry_for = entry_for

    async def call(self, item: WorkItem) -> None:
        """Call the app for `item`'s run and commit the outcome."""
        assert item.run_id is not None
        try:
            state = await self._storage.load_run_state(item.run_id)
        except NotFound:
            await self._drop(item)
            return
        if state.run.status.is_final or _already_memoized(state, item):
            await self._drop(item)
            return
        function = self._registry.function(state.run.function_id)
        if function is None:
            # Perhaps synced through another node a moment ago.
            await self._registry.load()
            function = self._registry.function(state.run.function_id)
        if function is None:
            await self._fail_missing_function(state, item)
            return
        encode = canonical_json if self._signing_key else codec.dumps
        body = build_request_body(state, function, item, encode=encode)
        url = step_url(function.url, item.step_id)
        headers = {
            "content-type": "application/json",
            "x-run-id": state.run.id,
            "x-inngest-req-version": str(state.run.request_version),
            "x-inngest-step-id": item.step_id,
        }
        if self._signing_key:
            headers["x-inngest-signature"] = signature(body, self._signing_key)
        try:
            answer = await self._client.request("POST", url, body=body, headers=headers)
        except AppUnreachable as exc:
            answer = exc  # type: ignore[assignment]
        call = Call(
            state=state,
            function=function,
            item=item,
            now=now_ms(),
            policy=self._policy,
            entry_for=self._entry_for,
        )
        await self.commit(interpret(call, answer))

    async def wake(self, item: WorkItem) -> None:
        """A sleep ended: memoize `null` for the step and resume the run."""
        memo = Memo(step_id=item.step_id, outcome=None, op="Sleep", at=now_ms())
        await self.commit(Commit(item=item, memos=[memo], then=Then.DISCOVER_IF_IDLE))

    async def _fail_missing_function(self, state: RunState, item: WorkItem) -> None:
        message = f"function {state.run.function_id!r} is no longer registered by any app"
        error = error_value("FunctionNotFound", message)
        update, events = finish_run(
            state, status=RunStatus.FAILED, now=now_ms(), entry_for=self._entry_for, error=error
        )
        await self.commit(Commit(item=item, run_update=update, events=events))

    async def _drop(self, item: WorkItem) -> None:
        await self.commit(Commit(item=item))

    async def commit(self, commit: Commit) -> None:
        """Write `commit`; a lost lease is logged, not raised (the item runs again)."""
        try:
            await self._storage.commit(commit)
        except StaleLease:
            logger.warning(
                "lease lost before commit; the item will run again",
                extra={"run_id": commit.item.run_id, "step_id": commit.item.step_id},
            )


def _already_memoized(state: RunState, item: WorkItem) -> bool:
    if item.step_id == DISCOVERY:
        return False
    return any(memo.step_id == item.step_id for memo in state.memos)


def build_request_body(
    state: RunState,
    function: FunctionConfig,
    item: WorkItem,
    *,
    encode: Callable[[Any], bytes] = codec.dumps,
) -> bytes:
    """The JSON body of an execution request (PROTOCOL §2.1).

    Signed requests are encoded as canonical JSON (`encode=canonical_json`), since the SDKs
    verify the signature over that form.
    """
    run = state.run
    stack = [memo.step_id for memo in state.memos]
    body: dict[str, Any] = {
        "event": state.events[0] if state.events else {},
        "events": state.events,
        "steps": {memo.step_id: memo.outcome for memo in state.memos},
        "defers": {},
        "ctx": {
            "run_id": run.id,
            "attempt": item.attempt,
            "max_attempts": function.max_attempts,
            "disable_immediate_execution": run.force_step_plan,
            "use_api": False,
            "stack": {"stack": stack, "current": len(stack)},
            "step_id": item.step_id,
            "env": "dev",
        },
        "version": run.request_version,
        "use_api": False,
    }
    encoded = encode(body)
    if len(encoded) <= USE_API_THRESHOLD:
        return encoded
    body["events"] = []
    body["steps"] = {}
    body["use_api"] = body["ctx"]["use_api"] = True
    return encode(body)


def step_url(function_url: str, step_id: str) -> str:
    """The function's runtime URL with `stepId` set to `step_id`."""
    return _url_prefix(function_url) + step_id


@functools.lru_cache(maxsize=1024)
def _url_prefix(function_url: str) -> str:
    parts = urlsplit(function_url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "stepId"]
    query.append(("stepId", ""))
    return urlunsplit(parts._replace(query=urlencode(query)))
