"""Before and after, side by side: alternating runs of bench/fanout.py from two checkouts.

    .venv/bin/python bench/compare.py --before ../baseline [--after .] [--rounds 3]
        [--configs stub-sqlite stub-pg stub-pg2 surge] [--n 10000] [--markdown]

Each checkout runs its own ``bench/fanout.py`` with its own ``.venv`` (make a baseline with
``git worktree add ../baseline <commit>`` and a venv there); a checkout without a ``.venv``
runs on this one's, with its own ``src`` first on ``PYTHONPATH`` (enough when the
dependencies did not change). Rounds alternate which checkout goes
first (before, after; after, before; ...), so a machine that slows down or speeds up during the
sitting weighs on both alike. Prints every run and, per configuration, the medians of SDK
calls/s, server CPU per call and PostgreSQL CPU per call, with after/before ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
CONFIGS = {
    "stub-sqlite": ["--mode", "stub"],
    "stub-pg": ["--mode", "stub", "--db", PG_URL, "--setup", "pg"],
    "stub-pg2": ["--mode", "stub", "--db", PG_URL, "--setup", "pg2"],
    "surge": ["--mode", "surge"],
}
FIGURES = (
    ("calls_per_s", "SDK calls/s", "{:,.0f}"),
    ("cpu_ms_per_call", "server CPU ms/call", "{:.3f}"),
    ("db_cpu_ms_per_call", "PostgreSQL CPU ms/call", "{:.3f}"),
    ("runs_per_s", "child runs/s", "{:,.0f}"),
)


def run_once(checkout: Path, config: str, n: int, out: Path) -> dict[str, Any]:
    """One fan-out of `config` from `checkout`; its figures."""
    python = checkout / ".venv" / "bin" / "python"
    env = dict(os.environ)
    if not python.exists():
        python = Path(sys.executable)
        env["PYTHONPATH"] = str(checkout / "src")
    argv = [str(python), "bench/fanout.py", *CONFIGS[config], "--n", str(n), "--json", str(out)]
    subprocess.run(argv, cwd=checkout, check=False, capture_output=True, env=env)
    if not out.exists():
        raise SystemExit(f"{checkout}: bench/fanout.py {' '.join(CONFIGS[config])} wrote nothing")
    [figures] = [f for f in json.loads(out.read_text())["fanout"] if f["n"] == n]
    return dict(figures)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="the baseline checkout")
    parser.add_argument("--after", type=Path, default=Path("."), help="the changed checkout")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--markdown", action="store_true", help="also print a markdown table")
    args = parser.parse_args()
    sides = {"before": args.before.resolve(), "after": args.after.resolve()}
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for config in args.configs:
            for round_no in range(1, args.rounds + 1):
                order = ["before", "after"] if round_no % 2 else ["after", "before"]
                for side in order:
                    out = Path(scratch) / f"{config}-{side}-{round_no}.json"
                    figures = run_once(sides[side], config, args.n, out)
                    results.setdefault((config, side), []).append(figures)
                    ok = "ok" if figures["ok"] else "FAILED"
                    print(
                        f"{time.strftime('%H:%M:%S')} {config:12} {side:6} round {round_no}: {ok}"
                        f"  {figures['calls_per_s']:,.0f} calls/s"
                        f"  {figures['cpu_ms_per_call']:.3f} ms/call server"
                        f"  {figures['db_cpu_ms_per_call']:.3f} ms/call PostgreSQL",
                        flush=True,
                    )
    print()
    rows = summary(results, args.configs)
    for row in rows:
        print("  ".join(row))
    if args.markdown:
        print()
        print("| configuration | figure | before (median) | after (median) | after / before |")
        print("| --- | --- | ---: | ---: | ---: |")
        for row in rows:
            print("| " + " | ".join(row) + " |")
    failed = any(not f["ok"] for runs in results.values() for f in runs)
    return 1 if failed else 0


def summary(
    results: dict[tuple[str, str], list[dict[str, Any]]], configs: list[str]
) -> list[list[str]]:
    """Per configuration and figure: the two medians and their ratio."""
    rows = []
    for config in configs:
        for key, label, form in FIGURES:
            before = statistics.median(f[key] for f in results[(config, "before")])
            after = statistics.median(f[key] for f in results[(config, "after")])
            if key.startswith("db_") and not before:
                continue
            ratio = f"{after / before:.1%}" if before else "-"
            rows.append([config, label, form.format(before), form.format(after), ratio])
    return rows


if __name__ == "__main__":
    sys.exit(main())
