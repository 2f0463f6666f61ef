"""The function page's chart of its recent runs: what the template draws, worked out here.

Per bucket of the window (`engine/throughput.py`), a bar of the runs started then, stacked by
how they stand now, and a dot for the share of those that ended which failed (on its own
0-100 % scale). The SVG is drawn on the server; each bar links to those runs on the Runs page
and says its numbers in its title, and a table beside it has the same numbers. Times are
written in UTC, with ``data-`` instants that ``run_chart.js`` rewrites in the viewer's zone.
"""

from __future__ import annotations

import datetime
from typing import Any

from surge.engine.throughput import WINDOWS, RunChart, RunTally
from surge.storage import RunStatus

from .filters import RunFilter
from .times import moment

__all__ = ["STACK", "chart_view", "percent"]

STACK = (
    (RunStatus.COMPLETED, "completed"),
    (RunStatus.FAILED, "failed"),
    (RunStatus.CANCELLED, "cancelled"),
    (RunStatus.RUNNING, "running"),
    (RunStatus.SKIPPED, "skipped"),
)
"""The statuses as the bars stack them, bottom up, with how the chart names them."""
WINDOW_NAMES = {"1h": "hour", "24h": "24 hours", "7d": "7 days"}
LABEL_EVERY_MS = {"1h": 15 * 60_000, "24h": 3 * 3_600_000, "7d": 24 * 3_600_000}
"""How far apart the time axis's labels are, by window."""

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 52, 10, 26
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM


def chart_view(chart: RunChart) -> dict[str, Any]:
    """What `function.html` needs to draw `chart`: bars, axes, the failure rate, the table."""
    slot = PLOT_W / len(chart.buckets)
    top = _nice_max(max(bucket.started for bucket in chart.buckets))
    bars, rows, dots = [], [], []
    for i, bucket in enumerate(chart.buckets):
        if not bucket.started:
            continue
        x, runs = LEFT + i * slot, _runs_link(chart.function_id, bucket)
        rows.append({"index": i, "start": moment(bucket.start), **_numbers(bucket), "runs": runs})
        bars.append(
            {
                "x": _n(x + slot * 0.15),
                "width": _n(slot * 0.7),
                "segments": _segments(bucket, top),
                "title": f"{_span(bucket)}: {_says(bucket)}",
                "says": _says(bucket),
                "start": _iso(bucket.start),
                "end": _iso(bucket.end),
                "runs": runs,
            }
        )
        if bucket.failure_rate is not None:
            y = TOP + PLOT_H * (1 - bucket.failure_rate)
            dots.append({"x": _n(x + slot / 2), "y": _n(y), "index": i})
    return {
        "window": chart.window,
        "window_name": WINDOW_NAMES[chart.window],
        "windows": [{"name": name, "current": name == chart.window} for name in WINDOWS],
        "box": {"width": WIDTH, "height": HEIGHT},
        "plot": {"left": LEFT, "right": LEFT + PLOT_W, "top": TOP, "bottom": TOP + PLOT_H},
        "bars": bars,
        "y_ticks": [
            {"y": _n(TOP + PLOT_H * (1 - value / top)), "label": str(value)}
            for value in sorted({0, top // 2 if top % 2 == 0 else 0, top})
        ],
        "x_ticks": _x_ticks(chart, slot),
        "rate_dots": dots,
        "rate_path": _path(dots),
        "rows": rows,
        "total": {**_numbers(chart.total), "start": moment(chart.total.start)},
        "empty": chart.total.started == 0,
    }


def percent(rate: float | None) -> str:
    """A failure rate for people: ``25%``, ``2.5%`` below 10 %, ``—`` when none ended."""
    if rate is None:
        return "—"
    value = rate * 100
    return f"{value:.1f}%" if 0 < value < 10 else f"{value:.0f}%"


def _numbers(bucket: RunTally) -> dict[str, Any]:
    return {
        "started": bucket.started,
        "counts": [{"status": name, "count": bucket.count(status)} for status, name in STACK],
        "failed": bucket.count(RunStatus.FAILED),
        "ended": bucket.ended,
        "rate": percent(bucket.failure_rate),
    }


def _says(bucket: RunTally) -> str:
    """A bucket's numbers in words, those that are not 0 (a bar's title, without its times)."""
    counts = ", ".join(f"{n} {name}" for status, name in STACK if (n := bucket.count(status)))
    runs = "run" if bucket.started == 1 else "runs"
    rate = percent(bucket.failure_rate)
    failed = f"{bucket.count(RunStatus.FAILED)} of {bucket.ended} ended"
    tail = f"failure rate {rate} ({failed})" if bucket.ended else "none ended"
    return f"{bucket.started} {runs} started ({counts}); {tail}"


def _segments(bucket: RunTally, top: int) -> list[dict[str, Any]]:
    segments, below = [], 0
    for status, name in STACK:
        count = bucket.count(status)
        if not count:
            continue
        height = PLOT_H * count / top
        y = TOP + PLOT_H * (1 - below / top) - height
        segments.append({"status": name, "y": _n(y), "height": _n(height), "count": count})
        below += count
    return segments


def _x_ticks(chart: RunChart, slot: float) -> list[dict[str, Any]]:
    every = LABEL_EVERY_MS[chart.window]
    ticks = []
    for i, bucket in enumerate(chart.buckets):
        if bucket.start % every == 0:
            day = chart.window == "7d"
            ticks.append(
                {
                    "x": _n(LEFT + i * slot),
                    "at": _iso(bucket.start),
                    "label": _utc(bucket.start, "%b %d" if day else "%H:%M"),
                    "format": "day" if day else "time",
                }
            )
    return ticks


def _path(dots: list[dict[str, Any]]) -> str:
    """The failure-rate line: joins the dots of neighbouring buckets only."""
    parts, last = [], None
    for dot in dots:
        parts.append(f"{'L' if last == dot['index'] - 1 else 'M'}{dot['x']} {dot['y']}")
        last = dot["index"]
    return " ".join(parts)


def _runs_link(function_id: str, bucket: RunTally) -> str:
    """The Runs page filtered to the bucket's runs (it reads whole minutes, as buckets are)."""
    shown = RunFilter(function_id, (), bucket.start, bucket.end, now=bucket.end)
    return f"/runs?{shown.encode()}"


def _nice_max(value: int) -> int:
    """The axis's top: `value` rounded up to 1, 2 or 5 times a power of ten."""
    scale = 1
    while True:
        for step in (1, 2, 5):
            if value <= step * scale:
                return step * scale
        scale *= 10


def _span(bucket: RunTally) -> str:
    return f"{_utc(bucket.start, '%Y-%m-%d %H:%M')} to {_utc(bucket.end, '%H:%M')} UTC"


def _utc(ms: int, pattern: str) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).strftime(pattern)


def _iso(ms: int) -> str:
    return _utc(ms, "%Y-%m-%dT%H:%M:%SZ")


def _n(value: float) -> str:
    """A coordinate, short: ``12.5``, ``40``."""
    return f"{value:.1f}".removesuffix(".0")
