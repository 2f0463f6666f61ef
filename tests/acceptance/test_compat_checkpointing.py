"""Checkpointing beyond what every stack runs in ``test_compat.py``: a TypeScript run longer
than one call's ``maxRuntime``, and the Surge SDK's checkpoints against ``surge start``.

The TypeScript app's ``long-steps`` runs six 120 ms steps with ``checkpointing: {maxRuntime:
300}``: a call runs steps, each checkpointed, until 300 ms have passed; then the SDK answers
with the next step planned instead of running it, the server calls for it, and a later call
goes on checkpointing (`docs/protocol.md`, "Checkpointing").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from compat_stack import SIGNING_KEY, Stack, start_stack

if TYPE_CHECKING:
    from conftest import AppProcess, SurgeServer

pytestmark = pytest.mark.compat


@pytest.fixture(scope="module", params=["ts-dev", "ts-start"])
def stack(
    request: pytest.FixtureRequest,
    surge_server_module: Callable[..., SurgeServer],
    app_process_module: Callable[..., AppProcess],
) -> Stack:
    return start_stack(request.param, surge_server_module, app_process_module)


def test_a_run_longer_than_a_calls_max_runtime_goes_on_in_later_calls(stack: Stack) -> None:
    (event_id,) = stack.server.send({"name": "compat/long.steps", "data": {}})
    (run,) = stack.server.wait_event_runs(event_id, 1, timeout=60)

    assert run["status"] == "Completed", run
    assert run["output"] == {"total": 15}
    steps = stack.ledger_runs()[run["run_id"]]["steps"]
    assert steps == {f"slow-{n}": 1 for n in range(6)}, steps
    history = stack.server.request("GET", f"/v1/runs/{run['run_id']}/history").json()["data"]
    done = [
        (h["name"], bool(h.get("checkpoint"))) for h in history if h["kind"] == "step_completed"
    ]
    # Several steps were checkpointed, but not all in one call: maxRuntime handed some back.
    assert [name for name, _ in done] == [f"slow-{n}" for n in range(6)], history
    assert sum(checkpointed for _, checkpointed in done) >= 2, history
    assert any(h["kind"] == "step_planned" for h in history), history


def test_the_surge_sdk_checkpoints_against_surge_start_with_its_signing_key(
    surge_server: Callable[..., SurgeServer],
    app_process: Callable[..., AppProcess],
) -> None:
    """In production mode every checkpoint carries the signing key as a bearer, as the SDKs'
    other calls to the server do: the Surge SDK's fan-out worker runs both steps in one call,
    the first one checkpointed, against ``surge start``."""
    server = surge_server(signing_key=SIGNING_KEY)
    app = app_process("surge", server)
    sync = app.sync()
    assert sync.status_code == 200 and not sync.json().get("error"), sync.text

    (event_id,) = server.send({"name": "compat/fanout.item", "data": {"item_id": "s-1"}})
    (run,) = server.wait_event_runs(event_id, 1, timeout=60)

    assert run["status"] == "Completed", run
    assert run["output"] == {"item_id": "s-1", "result": "processed:s-1:3"}
    history = server.request("GET", f"/v1/runs/{run['run_id']}/history").json()["data"]
    done = [
        (h["name"], bool(h.get("checkpoint"))) for h in history if h["kind"] == "step_completed"
    ]
    assert done == [("fetch-item", True), ("process-item", False)], history
    assert app.counts()["runs"][run["run_id"]]["steps"] == {
        "fetch-item": 1,
        "process-item": 1,
        "(returned)": 1,
    }
