"""Checkpointing: running a function's consecutive steps in one call, reporting each to the
server as it finishes (`POST /v1/checkpoint/{run id}/async`; `docs/protocol.md`,
"Checkpointing").

A call may checkpoint when the server offers it (the request names the call's work item,
`ctx.qi_id`, and function, `ctx.fn_id`), the call runs the function from the top on its first
attempt, and neither the client nor the function turned checkpointing off. Then a step that
finishes is kept as done (`RunState.pending`) and the function goes on; before the next step
begins the step tools report the finished ones here and wait for the server to have written
them, so a crash re-runs at most the step in flight. The call's answer carries the last
steps with the function's result (``RunComplete``), or whatever stopped it (a sleep, a wait,
a step error). A refused checkpoint (409: the run ended or moved on) stops the call; one
that cannot be delivered ends it with the steps in its answer, as an ordinary call would.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import httpx
import orjson

from surge.core.http_client import AppUnreachable

from ._run import Interrupt, RunState, Stale

if TYPE_CHECKING:
    from ._client import Surge

__all__ = ["ATTEMPTS", "Checkpoint"]

ATTEMPTS = 3
"""Tries of one checkpoint before the call answers with its steps instead."""
_BACKOFF = 0.05
_RETRIED = frozenset({429, 500, 502, 503, 504})


class Checkpoint:
    """Where one call reports its finished steps, and as what."""

    __slots__ = ("_client", "_head", "_headers", "_url")

    def __init__(
        self, client: Surge, *, run_id: str, fn_id: str, qi_id: str, headers: dict[str, str]
    ) -> None:
        self._client = client
        self._url = f"{client.config.api_origin}/v1/checkpoint/{run_id}/async"
        self._headers = {"content-type": "application/json", **headers}
        started = time.time_ns() // 1_000_000
        self._head = {
            "run_id": run_id,
            "fn_id": fn_id,
            "qi_id": qi_id,
            "request_started_at": started,
        }

    def _body(self, ops: list[dict[str, Any]]) -> bytes:
        return orjson.dumps({**self._head, "steps": ops, "ts": time.time_ns() // 1_000_000})

    async def flush_async(self, run: RunState) -> None:
        """Report `run`'s pending steps and wait until the server has written them."""
        ops, run.pending = run.pending, []
        body = self._body(ops)
        http = self._client.checkpoint_http()
        for attempt in range(ATTEMPTS):
            try:
                answer = await http.request("POST", self._url, body=body, headers=self._headers)
                status, text = answer.status, answer.body
            except AppUnreachable as exc:
                status, text = 0, str(exc).encode()
            if _settled(status, text, ops):
                return
            if attempt + 1 < ATTEMPTS:
                await asyncio.sleep(_BACKOFF * 2**attempt)
        raise Interrupt(ops)  # undelivered: the call's answer carries the steps

    def flush_sync(self, run: RunState) -> None:
        """`flush_async` for sync handlers."""
        ops, run.pending = run.pending, []
        body = self._body(ops)
        http = self._client.http_sync()
        for attempt in range(ATTEMPTS):
            try:
                answer = http.post(self._url, content=body, headers=self._headers)
                status, text = answer.status_code, answer.content
            except httpx.HTTPError as exc:
                status, text = 0, str(exc).encode()
            if _settled(status, text, ops):
                return
            if attempt + 1 < ATTEMPTS:
                time.sleep(_BACKOFF * 2**attempt)
        raise Interrupt(ops)


def _settled(status: int, text: bytes, ops: list[dict[str, Any]]) -> bool:
    """Whether a checkpoint's answer settles it (200: written); a refusal ends the call (409:
    stop; any other that retrying cannot mend: answer with the steps); `False` for a failure
    worth another try."""
    if status == 200:
        return True
    if status == 409:
        raise Stale(text.decode("utf-8", "replace")[:500])
    if status in _RETRIED or status == 0:
        return False
    raise Interrupt(ops)
