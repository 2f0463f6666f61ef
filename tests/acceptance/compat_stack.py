"""One Surge server and one official-SDK app synced to it: what the compatibility tests run on.

Each test module that uses `Stack` starts its own (module-scoped) stacks through
`start_stack`, one per parameter such as ``"py-dev"`` or ``"ts-start"``: the app on the
Python SDK (PyPI ``inngest==0.5.19``) or the TypeScript SDK (npm ``inngest@4.24.0``), in dev
mode against ``surge dev`` or in production mode (signing key and event key set, every request
signed) against ``surge start``. The TypeScript SDK checkpoints its steps (the default of its
v4) unless the parameter ends in ``-nocheckpoint`` (``checkpointing: false``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conftest import AppProcess, SurgeServer

SIGNING_KEY = "signkey-test-" + "8f3c1a7e" * 8


@dataclass
class Stack:
    server: SurgeServer
    app: AppProcess

    @property
    def app_id(self) -> str:
        return self.app.app_id

    def ledger_runs(self) -> dict[str, dict[str, Any]]:
        runs: dict[str, dict[str, Any]] = self.app.counts()["runs"]
        return runs

    def marks(self, group: str) -> list[str]:
        """The names the app's step bodies marked for `group`, in order."""
        return [m["name"] for m in self.app.counts()["marks"].get(group, [])]


def start_stack(
    param: str,
    surge_server_module: Callable[..., SurgeServer],
    app_process_module: Callable[..., AppProcess],
    *,
    extra_args: list[str] | None = None,
) -> Stack:
    """The stack `param` (``"<py|ts>-<dev|start>[-nocheckpoint]"``) names, its app synced;
    the server started with `extra_args`."""
    kind, mode, *rest = param.split("-")
    server = surge_server_module(
        signing_key=SIGNING_KEY if mode == "start" else None, extra_args=extra_args
    )
    env = {"CHECKPOINTING": "false"} if rest == ["nocheckpoint"] else None
    app = app_process_module(kind, server, env=env)
    resp = app.sync()
    # TS answers the PUT with the status the server put in its reply body; Python relays the
    # server's body with 200 (`docs/protocol.md`, "Sync"). Either way a failed sync carries an
    # error.
    assert resp.status_code == 200, f"PUT {app.serve_url} -> {resp.status_code}: {resp.text}"
    assert not resp.json().get("error"), f"PUT {app.serve_url} -> {resp.text}"
    return Stack(server=server, app=app)


def tag() -> str:
    return uuid.uuid4().hex[:12]


def assert_each_item_ran_once(
    worker_runs: dict[str, list[dict[str, Any]]], ledger: dict[str, dict[str, Any]]
) -> None:
    """Each fanned-out item's event started one run, which completed having run each of its
    steps (``fetch-item``, ``process-item``) exactly once by the app's own count (`ledger`)."""
    for event_id, runs in worker_runs.items():
        assert len(runs) == 1, f"event {event_id} started {len(runs)} runs: {runs}"
        (run,) = runs
        assert run["status"] == "Completed", run
        steps = ledger[run["run_id"]]["steps"]
        assert (steps["fetch-item"], steps["process-item"]) == (1, 1), (run, steps)
