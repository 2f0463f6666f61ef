"""Checkpointing on and off, side by side: the fan-out of two-step children (bench/fanout.py)
on the Surge SDK and on the TypeScript SDK, the setting alternating run by run.

    .venv/bin/python bench/checkpointing.py [--mode surge ts] [--n 10000] [--rounds 3]

Each round runs every mode with checkpointing on, then off (``CHECKPOINTING=false`` in the
app's environment), each on a fresh ``surge dev``, app and database; then the Surge SDK app's
own ceiling (bench/ceiling.py: the worker's three calls fired straight at it, no server) is
measured once. Prints every run, and per mode the median child runs/s on and off, their ratio
(issue 13's target: at least 2x), and for the Surge SDK the median with checkpointing as a
share of the ceiling (target: at least 80 %).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
from pathlib import Path
from typing import Any

import orjson
from ceiling import sdk_ceiling
from fanout import Stack as FanoutStack
from fanout import run_benchmark, running, stop_all

SETTINGS = (("on", "true"), ("off", "false"))


async def side_by_side(modes: list[str], n: int, rounds: int) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    for round_ in range(rounds):
        for mode in modes:
            for label, value in SETTINGS:
                os.environ["CHECKPOINTING"] = value
                print(f"round {round_ + 1}/{rounds}: {mode}, checkpointing {label} ...", flush=True)
                results = await run_benchmark([n], [mode], ceiling=False, log=lambda _: None)
                for result in results["fanout"]:
                    runs.append({**result, "round": round_ + 1, "setting": label})
                    print(
                        f"  {'ok' if result['ok'] else 'FAILED'}: {result['runs_per_s']:.0f} child"
                        f" runs/s, {result['calls']} app calls, server"
                        f" {result['server_cpu_util']:.0%} / app {result['app_cpu_util']:.0%} of"
                        " a core",
                        flush=True,
                    )
    os.environ.pop("CHECKPOINTING", None)
    ceiling = None
    if "surge" in modes:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="surge-bench-") as tmp:
            stack = FanoutStack("surge", Path(tmp), str(Path(tmp) / "unused.db"))
            async with running(stack, with_server=False):
                ceiling = await sdk_ceiling(stack.app_port, n)
    return {"n": n, "rounds": rounds, "runs": runs, "ceiling": ceiling}


def summary(results: dict[str, Any]) -> list[str]:
    lines = []
    runs, ceiling = results["runs"], results["ceiling"]
    modes = sorted({r["mode"] for r in runs}, key=["surge", "ts"].index)
    for mode in modes:
        median = {
            label: statistics.median(
                r["runs_per_s"] for r in runs if r["mode"] == mode and r["setting"] == label
            )
            for label, _ in SETTINGS
        }
        ratio = median["on"] / median["off"]
        line = (
            f"{mode}: N={results['n']}, median of {results['rounds']}: {median['on']:.0f} child"
            f" runs/s with checkpointing, {median['off']:.0f} without: {ratio:.2f}x"
            f" (target >= 2x: {'PASS' if ratio >= 2 else 'MISS'})"
        )
        if mode == "surge" and ceiling is not None:
            share = median["on"] / ceiling["runs_per_s"]
            line += (
                f"; the app's own ceiling {ceiling['runs_per_s']:.0f} child runs/s"
                f" ({ceiling['calls_per_s']:.0f} calls/s), with checkpointing {share:.0%} of it"
                f" (target >= 80%: {'PASS' if share >= 0.8 else 'MISS'})"
            )
        lines.append(line)
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", nargs="+", choices=["surge", "ts"], default=["surge", "ts"])
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    try:
        results = asyncio.run(side_by_side(args.mode, args.n, args.rounds))
    finally:
        stop_all()
    print(
        f"\n{os.cpu_count()} cores; load average before {load:.2f}, after {os.getloadavg()[0]:.2f}"
    )
    for line in summary(results):
        print(line)
    if args.json:
        args.json.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    return 0 if all(r["ok"] for r in results["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
