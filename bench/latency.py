"""Latency of a ten-step sequential function, one event at a time on an idle server: from the
event accepted to the run completed, with checkpointing on and off.

    .venv/bin/python bench/latency.py [--sdk surge ts] [--checkpointing on off] [--rounds 3]
                                      [--runs 50] [--json out.json]

For each SDK, setting and round a fresh ``surge dev`` (SQLite in a temporary directory) and a
fresh app: bench/latency_surge_app.py (the Surge SDK on uvicorn) or bench/latency_ts_app.mjs
(npm ``inngest`` 4.x on node, as installed for the compatibility tests); ``CHECKPOINTING=false``
in the app's environment turns checkpointing off in either. The settings alternate within
each round, so that both see the same machine. After three warm-up runs, each event is sent
alone and its run polled until it ends; the latency is the run's ``ended_at`` minus its
``run_started_at`` (the server's clock: the run starts in the transaction that accepts its
event). The client-side wall time, event POST to end seen, is printed beside it; the summary
gives each SDK's median p50 over the rounds, on and off, and their ratio.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WARMUP = 3
FUNCTION = {"surge": "latency-surge-ten-steps", "ts": "latency-ts-ten-steps"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait(check: Any, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = check()
        except httpx.HTTPError:
            found = None
        if found:
            return found
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


@contextmanager
def processes(sdk: str, workdir: Path, checkpointing: bool) -> Iterator[str]:
    """A surge dev and the SDK's app, synced; yields the server's URL."""
    server_port, app_port = free_port(), free_port()
    server = f"http://127.0.0.1:{server_port}"
    app_url = f"http://127.0.0.1:{app_port}/api/inngest"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SURGE_", "INNGEST_"))}
    if sdk == "surge":
        app_argv = [sys.executable, str(ROOT / "bench/latency_surge_app.py"), str(app_port), server]
    else:
        node = shutil.which("node")
        if node is None:
            raise SystemExit("node is not installed")
        app_argv = [node, str(ROOT / "bench/latency_ts_app.mjs"), str(app_port)]
        env["INNGEST_DEV"] = server
    if not checkpointing:
        env["CHECKPOINTING"] = "false"
    log = (workdir / f"{sdk}.log").open("wb")
    argv = [str(BIN / "surge"), "dev", "--port", str(server_port), "--no-discovery", "--no-poll"]
    argv += ["--db", str(workdir / f"{sdk}.db"), "-u", app_url]
    started = [
        subprocess.Popen(app_argv, env=env, stdout=log, stderr=subprocess.STDOUT),
        subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT),
    ]
    try:
        wait(lambda: httpx.get(f"{server}/health").status_code == 200, "surge dev")
        wait(lambda: httpx.get(app_url).status_code < 500, "the app")
        wait(lambda: httpx.get(f"{server}/dev").json()["functions"], "the app's sync", 60)
        yield server
    finally:
        for process in started:
            process.terminate()
        for process in started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()


def _ms(text: str) -> float:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000


def one_run(client: httpx.Client) -> tuple[float, float]:
    """Send one event; (server ms, client ms) until its run ended."""
    began = time.perf_counter()
    [event_id] = client.post("/e/bench", json={"name": "bench/ten.steps"}).json()["ids"]
    while True:
        runs = client.get(f"/v1/events/{event_id}/runs").json()["data"]
        if runs and runs[0]["ended_at"]:
            run = runs[0]
            break
        time.sleep(0.002)
    seen = (time.perf_counter() - began) * 1000
    if run["status"] != "Completed" or run["output"] != 45:
        raise SystemExit(f"the run did not complete as expected: {run}")
    return _ms(run["ended_at"]) - _ms(run["run_started_at"]), seen


def measure(sdk: str, runs: int, checkpointing: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="surge-latency-") as tmp:
        with processes(sdk, Path(tmp), checkpointing) as server:
            with httpx.Client(base_url=server, timeout=30) as client:
                for _ in range(WARMUP):
                    one_run(client)
                samples = [one_run(client) for _ in range(runs)]
    server_ms = sorted(s for s, _ in samples)
    client_ms = sorted(c for _, c in samples)
    return {
        "sdk": sdk,
        "checkpointing": checkpointing,
        "runs": runs,
        "p50": statistics.median(server_ms),
        "p95": server_ms[max(0, -(-95 * len(server_ms) // 100) - 1)],
        "mean": statistics.fmean(server_ms),
        "client_p50": statistics.median(client_ms),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sdk", nargs="+", choices=sorted(FUNCTION), default=["surge", "ts"])
    parser.add_argument("--checkpointing", nargs="+", choices=["on", "off"], default=["on", "off"])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    load = os.getloadavg()
    results = [
        measure(sdk, args.runs, setting == "on")
        for _ in range(args.rounds)
        for sdk in args.sdk
        for setting in args.checkpointing
    ]
    after = os.getloadavg()[0]
    print(f"\n{os.cpu_count()} cores; load average before {load[0]:.2f}, after {after:.2f}")
    print("ten sequential steps, one event at a time; ms from event accepted to run ended")
    print("| SDK | checkpointing | runs | p50 | p95 | mean | client-side p50 |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['sdk']} | {'on' if r['checkpointing'] else 'off'} | {r['runs']} | {r['p50']:.1f}"
            f" | {r['p95']:.1f} | {r['mean']:.1f} | {r['client_p50']:.1f} |"
        )
    for sdk in args.sdk:
        medians = {
            setting: statistics.median(
                r["p50"] for r in results if r["sdk"] == sdk and r["checkpointing"] == setting
            )
            for setting in (True, False)
            if any(r["sdk"] == sdk and r["checkpointing"] == setting for r in results)
        }
        if len(medians) == 2:
            ratio = medians[True] / medians[False]
            print(
                f"{sdk}: median p50 {medians[True]:.1f} ms on, {medians[False]:.1f} ms off:"
                f" {ratio:.2f} of it (target <= 0.25)"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
