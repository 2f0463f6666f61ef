"""The operating verbs of the `surge` command (`surge pause`, `resume`, `cancel`, `rerun`,
`replay`), run as a separate process against a real server on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import Harness, Received, Reply, ScriptedApp, SurgeServer

SURGE = [sys.executable, "-m", "surge.cli.main"]
CLI_TIMEOUT_S = 60.0
KEY = "signkey-prod-" + "c3" * 32


@dataclass
class Result:
    code: int
    out: str
    err: str


def cli_env(url: str | None, **extra: str) -> dict[str, str]:
    """The environment of a CLI process: the server's URL in `SURGE_URL`, no stray settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SURGE_", "INNGEST_"))}
    if url is not None:
        env["SURGE_URL"] = url
    return {**env, **extra}


async def surge(server: Harness | None, *args: str) -> Result:
    """Run ``surge ARGS`` against `server` (in `SURGE_URL`) without blocking the event loop
    the server runs in."""
    url = str(server.client.base_url) if server is not None else None
    proc = await asyncio.create_subprocess_exec(
        *SURGE,
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=cli_env(url),
    )
    out, err = await asyncio.wait_for(proc.communicate(), CLI_TIMEOUT_S)
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


async def test_pause_and_resume_a_function(socket_server: Harness, sdk_app: ScriptedApp) -> None:
    function = sdk_app.function("cli", "held", [{"event": "cli/go"}])
    sdk_app.script("cli-held", lambda call: sdk_app.ok(call.body["event"]["data"]["n"]))
    await sdk_app.register(socket_server, "cli", [function])

    paused = await surge(socket_server, "pause", "cli-held")

    assert (paused.code, paused.out, paused.err) == (0, "paused cli-held\n", "")
    dev = (await socket_server.client.get("/dev")).json()
    assert [f["paused"] for f in dev["functions"] if f["slug"] == "cli-held"] == [True]
    [while_paused] = await socket_server.send({"name": "cli/go", "data": {"n": 1}})
    [skipped] = await socket_server.wait_event_runs(while_paused, 1)
    assert (skipped["status"], skipped["skip_reason"]) == ("Skipped", "paused")

    resumed = await surge(socket_server, "resume", "cli-held", "--json")

    assert resumed.code == 0, resumed.err
    assert json.loads(resumed.out) == {
        "function_id": "cli-held",
        "paused": False,
        "was_paused": True,
    }
    [after] = await socket_server.send({"name": "cli/go", "data": {"n": 2}})
    [ran] = await socket_server.wait_event_runs(after, 1)
    assert (ran["status"], ran["output"]) == ("Completed", 2)
    again = await surge(socket_server, "resume", "cli-held")
    assert (again.code, again.out) == (0, "cli-held was not paused\n")


async def test_cancel_a_sleeping_run_then_rerun_it(
    socket_server: Harness, sdk_app: ScriptedApp
) -> None:
    function = sdk_app.function("cli", "nap", [{"event": "cli/nap"}])
    nap = sdk_app.op("Sleep", "nap", name="1h")
    fetched = sdk_app.ops(sdk_app.step_run("fetch", 1))
    sdk_app.script("cli-nap", [fetched, sdk_app.ops(nap), sdk_app.ok("again")])
    await sdk_app.register(socket_server, "cli", [function])
    [event_id] = await socket_server.send({"name": "cli/nap"})
    [run] = await socket_server.event_runs(event_id)
    run_id = run["run_id"]

    async def sleeping() -> bool:
        return any(h["kind"] == "sleeping" for h in await socket_server.history(run_id))

    await socket_server.wait_for(sleeping, what="the run to sleep")

    cancelled = await surge(socket_server, "cancel", run_id)

    assert (cancelled.code, cancelled.out) == (0, f"cancelled {run_id}\n"), cancelled.err
    assert (await socket_server.run(run_id))["status"] == "Cancelled"

    unknown_step = await surge(socket_server, "rerun", run_id, "--from-step", "nope")

    assert unknown_step.code == 1
    assert unknown_step.out == ""
    assert (
        unknown_step.err == f"surge rerun: run {run_id} has no step 'nope' (its steps: 'fetch')\n"
    )

    not_json = await surge(socket_server, "rerun", run_id, "--from-step", "fetch", "--input", "[1")
    assert (not_json.code, not_json.err) == (
        1,
        "surge rerun: --input must be a JSON array, got '[1'\n",
    )
    python_app = await surge(
        socket_server, "rerun", run_id, "--from-step", "fetch", "--input", "[1]"
    )
    assert python_app.code == 1 and "only the TypeScript SDK (js:)" in python_app.err

    rerun = await surge(socket_server, "rerun", run_id)

    assert rerun.code == 0, rerun.err
    match = re.fullmatch(rf"rerun of {run_id} started: (\w+)\n", rerun.out)
    assert match, rerun.out
    new_run = await socket_server.wait_run(match[1])
    assert (new_run["status"], new_run["output"]) == ("Completed", "again")
    assert new_run["original_run_id"] == run_id
    ended = await surge(socket_server, "cancel", match[1])
    assert (ended.code, ended.out) == (0, f"run {match[1]} had already ended: Completed\n")


async def test_replay_previews_then_reruns_the_failed_runs_showing_its_progress(
    socket_server: Harness, sdk_app: ScriptedApp
) -> None:
    healthy = False
    gate = asyncio.Event()

    async def reply(call: Received) -> Reply:
        n = call.body["event"]["data"]["n"]
        if not healthy and n % 2:
            return sdk_app.fn_error("downstream is down", no_retry=True)
        if healthy:
            await gate.wait()  # reruns stay running until the test saw them so
        return sdk_app.ok(n)

    function = sdk_app.function("cli", "flaky", [{"event": "cli/flaky"}], retries=0)
    sdk_app.script("cli-flaky", reply)
    await sdk_app.register(socket_server, "cli", [function])
    ids = await socket_server.send([{"name": "cli/flaky", "data": {"n": n}} for n in range(4)])
    failed = []
    for event_id in ids:
        [run] = await socket_server.wait_event_runs(event_id, 1)
        if run["status"] == "Failed":
            failed.append(run["run_id"])
    assert len(failed) == 2

    preview = await surge(socket_server, "replay", "cli-flaky", "--since", "1h", "--preview")

    assert (preview.code, preview.out) == (0, "replay of cli-flaky would rerun 2 runs\n")
    assert await socket_server.get_data("/v1/replays") == []

    healthy = True
    lines = await replay_and_wait(socket_server, "cli-flaky", gate)

    [replay] = await socket_server.get_data("/v1/replays")
    assert lines[0] == f"replay {replay['id']} started: 2 runs"
    assert "2/2 rerun: 2 running" in lines[1:-1]
    assert lines[-1] == f"replay {replay['id']} done: 2 completed"
    for run_id in failed:
        [rerun] = await socket_server.get_data("/v1/runs", original_run_id=run_id)
        assert rerun["status"] == "Completed"


async def replay_and_wait(server: Harness, function_id: str, gate: asyncio.Event) -> list[str]:
    """Run ``surge replay --wait``; open `gate` once it reports every rerun running; return
    the lines it printed."""
    args = ["replay", function_id, "--since", "1h", "--until", "0s", "--wait"]
    proc = await asyncio.create_subprocess_exec(
        *SURGE,
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=cli_env(str(server.client.base_url)),
    )
    assert proc.stdout is not None and proc.stderr is not None
    lines = []
    while line := (await asyncio.wait_for(proc.stdout.readline(), CLI_TIMEOUT_S)).decode():
        lines.append(line.rstrip("\n"))
        if "2 running" in line:
            gate.set()
    err = (await proc.stderr.read()).decode()
    assert await asyncio.wait_for(proc.wait(), CLI_TIMEOUT_S) == 0, err
    return lines


async def test_refusals_and_an_unreachable_server_exit_1_saying_why(
    socket_server: Harness,
) -> None:
    nowhere = f"http://127.0.0.1:{socket_server.free_port()}"

    unknown, replay, down = await asyncio.gather(
        surge(socket_server, "pause", "cli-nope"),
        surge(socket_server, "replay", "cli-nope", "--since", "2024-01-01T00:00:00Z"),
        surge(None, "cancel", "01HZZZZZZZZZZZZZZZZZZZZZZZ", "--url", nowhere),
    )

    assert (unknown.code, unknown.out) == (1, "")
    assert unknown.err == "surge pause: no function 'cli-nope' is registered\n"
    assert (replay.code, replay.err) == (1, "surge replay: no function 'cli-nope' is registered\n")
    assert (down.code, down.out) == (1, "")
    assert f"cannot connect to the Surge server at {nowhere}" in down.err


def test_surge_start_needs_the_signing_key(surge_server: Callable[..., SurgeServer]) -> None:
    server = surge_server(signing_key=KEY)
    register = {
        "appName": "cli",
        "url": "http://127.0.0.1:9/api/inngest",
        "framework": "fast_api",
        "functions": [
            {
                "id": "cli-held",
                "name": "held",
                "triggers": [{"event": "cli/go"}],
                "steps": {"step": {"id": "step", "runtime": {"url": "http://127.0.0.1:9/"}}},
            }
        ],
    }
    assert server.request("POST", "/fn/register", json=register).status_code == 200

    def pause(**env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*SURGE, "pause", "cli-held"],
            env=cli_env(server.url, **env),
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
            check=False,
        )

    without, wrong, right = (
        pause(),
        pause(SURGE_SIGNING_KEY="ab" * 32),
        pause(SURGE_SIGNING_KEY=KEY),
    )

    assert without.returncode == wrong.returncode == 1
    assert "signing key is missing (give --signing-key or set SURGE_SIGNING_KEY)" in without.stderr
    assert "signing key is not valid for this server" in wrong.stderr
    assert (right.returncode, right.stdout) == (0, "paused cli-held\n"), right.stderr
    dev = server.request("GET", "/dev").json()
    assert [f["paused"] for f in dev["functions"]] == [True]
