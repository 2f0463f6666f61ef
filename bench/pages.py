"""Dashboard benchmark: how soon each page shows its rows with 1,000,000 runs stored.

    .venv/bin/python bench/pages.py --reuse DIR   # the databases `bench/volume.py --keep DIR` left
    .venv/bin/python bench/pages.py [--runs 1000000] [--keep DIR]   # generate them first

Issue 12: with 1,000,000 runs stored, every dashboard page shows its data (until a marker the
page renders with its rows is visible, p95 over 20 loads) within 300 ms.

The data is `bench/volume.py`'s (its generator, imported: 20 functions, a 1,000-step run, runs
ending each way over 30 days). For each backend a real ``surge dev --db <file | postgresql://…>``
runs as a subprocess on loopback and Debian's Chromium (Playwright, headless) loads each page
(in a tab of its own) once untimed, then ``--loads`` times, one after another. A load is timed
in the page itself, from navigation start (``performance.timeOrigin``) to the animation frame
in which the page's marker (the first element matching its selector: its first row) is in the
document and visible; a script installed before the page's own watches for it, so the driver's
round trips are not counted. Beside it, p95 too: the time to the response's first byte (the server's
share), to ``DOMContentLoaded`` (all of the HTML parsed) and to the end of the ``load`` event
(the browser's work on the whole page done), and the HTML's size; ``--json FILE`` keeps each
load's figures. The next load starts after the ``load`` event.

Without ``--reuse`` the data is generated first, as ``volume.py`` does: PostgreSQL's into a
fresh ``surge_volume`` database (any one there is dropped), SQLite's into ``--keep DIR`` or a
temporary directory. See bench/README.md and docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import volume
from cluster import Setup
from fanout import free_port, stop_all, wait_http
from playwright.async_api import Browser, async_playwright

CHROMIUM = os.environ.get("SURGE_BENCH_CHROMIUM", "/usr/bin/chromium")
TARGET_MS = 300.0
RUN_ROW = "#run-rows tr[data-run]"

# Runs before the page's scripts: once the selector matches, the first animation frame in
# which the element is visible (styles applied, laid out) sets `window.__surgeMarker`.
MARKER_JS = """(selector) => {
  const visible = () => {
    const element = document.querySelector(selector);
    return element !== null && element.checkVisibility();
  };
  const observer = new MutationObserver(() => {
    if (document.querySelector(selector) === null) return;
    observer.disconnect();
    const frame = () => {
      if (visible()) window.__surgeMarker = performance.now();
      else requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  });
  observer.observe(document, { childList: true, subtree: true });
}"""
TIMINGS_JS = """(selector) => {
  const nav = performance.getEntriesByType("navigation")[0];
  return {
    marker: window.__surgeMarker,
    ttfb: nav.responseStart,
    parsed: nav.domContentLoadedEventEnd,
    loaded: nav.loadEventEnd,
    bytes: nav.decodedBodySize,
    rows: document.querySelectorAll(selector).length,
  };
}"""


@dataclass(frozen=True)
class Target:
    name: str
    path: str
    selector: str
    """The page's marker: the first element matching it, its first row."""


def targets(db: volume.Db, function: str, event: str) -> list[Target]:
    """The pages issue 12 names, on what `db` holds: `function`'s runs and its event `event`."""
    steps_run = db.rows("SELECT MAX(id) FROM runs WHERE function_id = ?", volume.STEPS_FN)[0][0]
    steps = db.rows("SELECT COUNT(*) FROM memos WHERE run_id = ?", steps_run)[0][0]
    sql = "SELECT internal_id FROM events WHERE name = ? ORDER BY received_at DESC LIMIT 1"
    event_id = db.rows(sql, event)[0][0]
    return [
        Target("/runs", "/runs", RUN_ROW),
        Target("/runs: Failed", "/runs?status=Failed", RUN_ROW),
        Target(f"/runs: {function}", "/runs?" + urlencode({"function": function}), RUN_ROW),
        Target(
            f"/runs/{{id}}: {steps:,} steps", f"/runs/{steps_run}", "ol.waterfall li[data-step]"
        ),
        Target("/events", "/events", "tr[data-event]"),
        Target(f"/events: {event}", "/events?" + urlencode({"name": event}), "tr[data-event]"),
        Target("/events/{id}", f"/events/{event_id}", "tr[data-run]"),
        Target("/functions", "/functions", "tr[data-function]"),
        Target(f"/functions/{function}", f"/functions/{quote(function)}", "tr[data-run]"),
        Target("/apps", "/apps", "section[data-app] li[data-function]"),
    ]


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


async def load(
    browser: Browser, base: str, target: Target, args: argparse.Namespace
) -> dict[str, Any]:
    """`target` loaded once untimed, then ``args.loads`` times: its figures."""
    page = await browser.new_page()
    await page.add_init_script(script=f"({MARKER_JS})({json.dumps(target.selector)})")
    samples: list[dict[str, Any]] = []
    try:
        for i in range(args.warmup + args.loads):
            response = await page.goto(base + target.path, wait_until="commit")
            if response is None or response.status != 200:
                status = response.status if response else "no response"
                raise RuntimeError(f"{target.path}: HTTP {status}")
            await page.wait_for_function(
                "() => window.__surgeMarker !== undefined", timeout=args.timeout * 1000
            )
            await page.wait_for_load_state("load")
            sample = await page.evaluate(TIMINGS_JS, target.selector)
            if i >= args.warmup:
                samples.append(sample)
    finally:
        await page.close()
    marker = [s["marker"] for s in samples]
    return {
        "page": target.name,
        "path": target.path,
        "selector": target.selector,
        "rows": samples[-1]["rows"],
        "p50": nearest_rank(marker, 50),
        "p95": nearest_rank(marker, 95),
        "max": max(marker),
        "ttfb95": nearest_rank([s["ttfb"] for s in samples], 95),
        "parsed95": nearest_rank([s["parsed"] for s in samples], 95),
        "loaded95": nearest_rank([s["loaded"] for s in samples], 95),
        "kib": samples[-1]["bytes"] / 1024,
        "samples": samples,
    }


async def measure(
    backend: volume.Backend, workdir: Path, args: argparse.Namespace
) -> list[dict[str, Any]]:
    db = backend.open()
    pages = targets(db, args.function, args.event)
    db.conn.close()
    dev = replace(backend, setup=Setup(backend.setup.backend))  # `surge dev` on both
    port = free_port()
    proc = volume.server_proc(dev, workdir, "pages", port, None, 0)
    proc.start()
    base = f"http://127.0.0.1:{port}"
    results = []
    try:
        await wait_http(f"{base}/health", proc, timeout=120)
        volume.log(f"[{backend.name}] {' '.join(proc.cmd)}")
        async with async_playwright() as playwright:
            sandbox = ["--no-sandbox"] if os.geteuid() == 0 else []
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=sandbox)
            try:
                for target in pages:
                    row = {"backend": backend.name, **await load(browser, base, target, args)}
                    volume.log(
                        f"  {row['page']}: p50 {row['p50']:.0f} ms, p95 {row['p95']:.0f} ms,"
                        f" max {row['max']:.0f} ms ({row['rows']:,} rows)"
                    )
                    results.append(row)
            finally:
                await browser.close()
    finally:
        proc.stop()
    return results


async def run_backend(name: str, workdir: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    backend = volume.backend_for(name, workdir, args.pg, fresh=not args.reuse)
    try:
        if not args.reuse:
            await volume.generate(backend, workdir, args)
        return await measure(backend, workdir, args)
    finally:
        if name == "pg" and not (args.keep or args.reuse):
            volume.drop_pg(args.pg)


def report(rows: list[dict[str, Any]], args: argparse.Namespace, loads: tuple[str, str]) -> str:
    lines = [
        f"{os.cpu_count()} cores; load average (1, 5, 15 min) {loads[0]} before, {loads[1]} after.",
        f"{args.loads} loads per page after {args.warmup} warm-up; ms from navigation start.",
        "",
        "| backend | page | marker | rows | p50 | p95 | max | first byte p95 | HTML parsed p95"
        " | load event p95 | KiB |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        p95 = f"**{r['p95']:.0f}**" if r["p95"] > TARGET_MS else f"{r['p95']:.0f}"
        lines.append(
            f"| {r['backend']} | `{r['page']}` | `{r['selector']}` | {r['rows']:,} | {r['p50']:.0f}"
            f" | {p95} | {r['max']:.0f} | {r['ttfb95']:.0f} | {r['parsed95']:.0f}"
            f" | {r['loaded95']:.0f} | {r['kib']:.0f} |"
        )
    over = [f"{r['backend']} {r['page']} ({r['p95']:.0f} ms)" for r in rows if r["p95"] > TARGET_MS]
    lines += ["", f"Over {TARGET_MS:.0f} ms p95: {', '.join(over) if over else 'none'}."]
    return "\n".join(lines)


def load_average() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", choices=["sqlite", "pg"], default=["sqlite", "pg"])
    parser.add_argument("--loads", type=int, default=20, help="timed loads per page (default 20)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed loads per page first")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds a load may take")
    parser.add_argument(
        "--function", default=volume.fn_slug(0), help="runs filter and function page"
    )
    parser.add_argument(
        "--event", default=volume.fn_event(0), help="events filter and event page (its trigger)"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON")
    parser.add_argument(
        "--pg", default=volume.PG_SERVER, help=f"PostgreSQL server ({volume.PG_SERVER})"
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--reuse", type=Path, metavar="DIR", help="measure what `volume.py --keep DIR` left"
    )
    where.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help=f"generate into DIR and keep it (and the {volume.PG_DATABASE} database)",
    )
    generation = parser.add_argument_group("generation (without --reuse), as bench/volume.py")
    generation.add_argument("--runs", type=int, default=1_000_000)
    generation.add_argument("--days", type=int, default=30)
    generation.add_argument("--steps", type=int, default=1000)
    generation.add_argument("--seed", type=int, default=1)
    generation.add_argument("--nice", type=int, default=10)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    os.environ.setdefault("SURGE_RETENTION", "forever")

    def on_term(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    workdir = args.reuse or args.keep or Path(tempfile.mkdtemp(prefix="surge-pages-"))
    workdir.mkdir(parents=True, exist_ok=True)
    before = load_average()
    rows: list[dict[str, Any]] = []
    try:
        for name in args.backends:
            rows += asyncio.run(run_backend(name, workdir, args))
    except KeyboardInterrupt:
        print("interrupted")
        return 130
    finally:
        stop_all()
        if not (args.keep or args.reuse):
            shutil.rmtree(workdir, ignore_errors=True)
    print("\n" + report(rows, args, (before, load_average())))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
