"""Production mode against development mode, side by side: the stub-app fan-out
(bench/fanout.py) on ``surge dev`` and on ``surge start`` (signing key, event key, signed
requests), both on SQLite, the mode alternating run by run.

    .venv/bin/python bench/production.py [--n 10000] [--rounds 3]

Each run gets a fresh server, app and database. Prints every run (SDK calls/s, server CPU per
call), the medians of each mode, and ``surge start``'s calls/s as a share of ``surge dev``'s
(issue 14's target: at least 95 %).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from typing import Any

from fanout import run_benchmark, stop_all

# `surge start` on SQLite is the "sqlite" setup of a PostgreSQL --db; the URL is not used.
UNUSED_POSTGRES = "postgresql://127.0.0.1:5432/unused"
MODES = (("dev", None, None), ("start", UNUSED_POSTGRES, ["sqlite"]))


async def side_by_side(n: int, rounds: int) -> list[dict[str, Any]]:
    runs = []
    for round_ in range(rounds):
        for label, db, setups in MODES:
            print(f"round {round_ + 1}/{rounds}: surge {label} ...", flush=True)
            results = await run_benchmark(
                [n], ["stub"], db=db, setups=setups, ceiling=False, log=lambda _: None
            )
            for result in results["fanout"]:
                runs.append({**result, "round": round_ + 1, "label": label})
                print(
                    f"  {'ok' if result['ok'] else 'FAILED'}: {result['calls_per_s']:,.0f} SDK"
                    f" calls/s, {result['cpu_ms_per_call']:.3f} ms server CPU per call",
                    flush=True,
                )
    return runs


def summary(runs: list[dict[str, Any]], n: int) -> list[str]:
    medians = {
        label: {
            key: statistics.median(r[key] for r in runs if r["label"] == label)
            for key in ("calls_per_s", "cpu_ms_per_call")
        }
        for label, _, _ in MODES
    }
    share = medians["start"]["calls_per_s"] / medians["dev"]["calls_per_s"]
    lines = [
        f"surge {label}: N={n}, median {m['calls_per_s']:,.0f} SDK calls/s,"
        f" {m['cpu_ms_per_call']:.3f} ms server CPU per call"
        for label, m in medians.items()
    ]
    lines.append(
        f"surge start / surge dev: {share:.1%} of the calls/s"
        f" (target >= 95%: {'PASS' if share >= 0.95 else 'MISS'})"
    )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    try:
        runs = asyncio.run(side_by_side(args.n, args.rounds))
    finally:
        stop_all()
    print()
    for line in summary(runs, args.n):
        print(line)
    return 0 if all(r["ok"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
