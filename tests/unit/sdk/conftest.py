"""Helpers for SDK unit tests: call a served function in process, as the server would."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import orjson
import pytest

import surge
from surge.sdk._comm import Comm, CommRequest, CommResponse

Caller = Callable[..., Coroutine[Any, Any, CommResponse]]


def execution_body(
    steps: dict[str, Any] | None = None,
    *,
    event: dict[str, Any] | None = None,
    attempt: int = 0,
    max_attempts: int = 3,
    plan_only: bool = False,
) -> bytes:
    steps = steps or {}
    return orjson.dumps(
        {
            "event": event or {"name": "t/event", "data": {"n": 2}, "ts": 1, "id": "e1"},
            "events": [],
            "steps": steps,
            "ctx": {
                "run_id": "01RUN",
                "attempt": attempt,
                "max_attempts": max_attempts,
                "disable_immediate_execution": plan_only,
                "stack": {"stack": list(steps), "current": len(steps)},
            },
            "use_api": False,
            "version": -1,
        }
    )


@pytest.fixture
def dev_client() -> surge.Surge:
    return surge.Surge(app_id="app", mode="dev", api_origin="http://127.0.0.1:9")


@pytest.fixture
def call() -> Callable[..., Caller]:
    """``call(client, functions)`` returns ``async (fn_id, steps=..., step_id=..., **body)``."""

    def make(client: surge.Surge, functions: list[surge.Function[Any]]) -> Caller:
        comm = Comm(client, functions, "test")

        async def invoke(
            fn_id: str, steps: dict[str, Any] | None = None, step_id: str = "step", **kw: Any
        ) -> CommResponse:
            request = CommRequest(
                method="POST",
                url="http://app/api/inngest",
                query={"fnId": f"{client.app_id}-{fn_id}", "stepId": step_id},
                headers={},
                body=execution_body(steps, **kw),
            )
            return await comm.handle(request)

        return invoke

    return make
