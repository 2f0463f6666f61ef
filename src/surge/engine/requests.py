"""The execution request: the body an app is called with, and the URL of a step.

See `docs/protocol.md`, "The request".
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from surge.core import codec
from surge.core.functions import FunctionConfig
from surge.storage import RunState, WorkItem

from .checkpoints import queue_item_ref

USE_API_THRESHOLD = 4 * 1024 * 1024
"""Above this request size, events and memos are fetched by the SDK through the REST API."""


def build_request_body(
    state: RunState,
    function: FunctionConfig,
    item: WorkItem,
    *,
    encode: Callable[[Any], bytes] = codec.dumps,
) -> bytes:
    """The JSON body of an execution request (`docs/protocol.md`, "The request").

    Signed requests are encoded as canonical JSON (`encode=canonical_json`), since the SDKs
    verify the signature over that form.
    """
    run = state.run
    stack = [memo.step_id for memo in state.memos]
    steps = step_memos(state)
    body: dict[str, Any] = {
        "event": state.events[0] if state.events else {},
        "events": state.events,
        "steps": steps,
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
    if len(steps) == len(state.memos):
        # Steps run one after another in this call may be checkpointed (`checkpoints`); not
        # while a step waits to run with an edited input, which the TypeScript SDK would
        # then take for a step to resume.
        body["ctx"].update(fn_id=function.id, qi_id=queue_item_ref(item))
    encoded = encode(body)
    if len(encoded) <= USE_API_THRESHOLD:
        return encoded
    body["events"] = []
    body["steps"] = {}
    body["use_api"] = body["ctx"]["use_api"] = True
    return encode(body)


def step_memos(state: RunState) -> dict[str, Any]:
    """The run's memos by step id, as the request's ``steps`` (and ``GET /v0/runs/{id}/actions``)
    give them: with an edited input (a rerun from that step) as ``{"input": [args]}`` until the
    step is memoized, as the TypeScript SDK reads it."""
    steps = {memo.step_id: memo.outcome for memo in state.memos}
    for step_id, args in (state.run.step_input or {}).items():
        steps.setdefault(step_id, {"input": args})
    return steps


def step_url(function_url: str, step_id: str) -> str:
    """The function's runtime URL with `stepId` set to `step_id`."""
    return _url_prefix(function_url) + step_id


@functools.lru_cache(maxsize=1024)
def _url_prefix(function_url: str) -> str:
    parts = urlsplit(function_url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "stepId"]
    query.append(("stepId", ""))
    return urlunsplit(parts._replace(query=urlencode(query)))
