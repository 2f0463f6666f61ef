"""Printing the fan-out benchmark's figures (``bench/fanout.py``): text, markdown, targets."""

from __future__ import annotations

import os
from typing import Any

from cluster import DEV, INGEST_CHUNK, INGEST_POSTS, PG_TARGET

IDLE_EVENTS = 100
SURGE_TARGET = 800  # child runs/s at N=10,000 through the server (issue 3)
LATENCY_SOURCE = "server event received_at (wall, ms) -> app first call time.time()"
IDLE_SOURCE = "POST /e/ returned (time.time()) -> app first call time.time()"


def fmt(value: float, digits: int = 0) -> str:
    return "n/a" if value != value else f"{value:,.{digits}f}"


Target = tuple[str, bool | None, str]


def throughput_targets(
    fan: dict[tuple[str, int], Any], ceil: dict[tuple[str, int], Any]
) -> list[Target]:
    out: list[Target] = []
    for (mode, n), r in sorted(fan.items()):
        if mode == "sdk" and (mode, n) in ceil:
            ratio = r["runs_per_s"] / ceil[mode, n]["runs_per_s"]
            out.append((f"sdk runs/s >= 85% of ceiling (N={n})", ratio >= 0.85, f"{ratio:.1%}"))
        if mode == "surge" and ("stub", n) in fan:
            # The Surge app's own ceiling is far above the server's, so the server-bound
            # stub is the yardstick of what the SDK costs end to end.
            ratio = r["runs_per_s"] / fan["stub", n]["runs_per_s"]
            out.append((f"surge runs/s >= 85% of stub's (N={n})", ratio >= 0.85, f"{ratio:.1%}"))
        if mode == "surge" and n == 10000:
            ok = r["ok"] and r["runs_per_s"] >= SURGE_TARGET
            out.append(
                (f"surge >= {SURGE_TARGET} child runs/s (N=10000)", ok, fmt(r["runs_per_s"]))
            )
        if mode == "stub":
            out.append(
                (
                    f"stub >= 2,000 SDK calls/s (N={n})",
                    r["calls_per_s"] >= 2000,
                    fmt(r["calls_per_s"]),
                )
            )
            cpu = r["cpu_ms_per_call"]
            out.append((f"server CPU <= 0.3 ms/call (stub, N={n})", cpu <= 0.3, f"{cpu:.3f} ms"))
    return out


def targets(results: dict[str, Any]) -> list[Target]:
    out: list[Target] = []
    dev = [r for r in results["fanout"] if r.get("setup", DEV.label) == DEV.label]
    if dev:
        out += dev_targets(results, dev)
    for r in results["fanout"]:
        if r in dev:
            continue
        out.append((f"N={r['n']:,} completes ({r['mode']}, {r['setup']})", r["ok"], ""))
        if r["mode"] == "stub" and r.get("backend") == "postgres" and r["nodes"] == 1:
            ok = r["ok"] and r["calls_per_s"] >= PG_TARGET
            name = f"one PostgreSQL node >= {PG_TARGET:,} SDK calls/s (stub, N={r['n']})"
            out.append((name, ok, fmt(r["calls_per_s"])))
    for i in results.get("ingest", []):
        detail = f"{fmt(i['events_per_s'])} events/s"
        out.append((f"ingest burst: every event accepted ({i['setup']})", i["ok"], detail))
    for idle in results["idle"]:
        where = idle["mode"] + (
            "" if idle.get("setup", DEV.label) == DEV.label else ", " + idle["setup"]
        )
        ok = idle["p50_ms"] <= 10
        out.append((f"idle p50 <= 10 ms ({where})", ok, f"{idle['p50_ms']:.1f} ms"))
    return out


def dev_targets(results: dict[str, Any], rows: list[dict[str, Any]]) -> list[Target]:
    """Issue 3's targets, for `surge dev` on SQLite."""
    fan = {(r["mode"], r["n"]): r for r in rows}
    ceil = {(c.get("mode", "sdk"), c["n"]): c for c in results["ceiling"]}
    out: list[Target] = []

    def add(name: str, ok: bool | None, detail: str) -> None:
        out.append((name, ok, detail))

    for mode in results["modes"]:
        r = fan.get((mode, 10000))
        add(f"N=10,000 completes ({mode})", r["ok"] if r else None, "" if r else "not run")
    out += throughput_targets(fan, ceil)
    for mode in results["modes"]:
        small, big = fan.get((mode, 1000)), fan.get((mode, 10000))
        if small and big:
            ratio = big["runs_per_s"] / small["runs_per_s"]
            add(f"runs/s N=10k >= 80% of N=1k ({mode})", ratio >= 0.8, f"{ratio:.1%}")
        if big:
            rss = big["peak_rss_mb"]
            add(f"peak RSS <= 300 MB at N=10k ({mode})", rss <= 300, f"{rss:.0f} MB")
    return out


def print_text(results: dict[str, Any]) -> None:
    ceil = {(c.get("mode", "sdk"), c["n"]): c for c in results["ceiling"]}
    print("\n=== fan-out (one event -> orchestrator -> N events -> N two-step runs) ===")
    print(f"latency source: {LATENCY_SOURCE}")
    for r in results["fanout"]:
        line = (
            f"{r['mode']:>5} {r.get('setup', DEV.label):<16} N={r['n']:>6}: "
            f"{'ok' if r['ok'] else 'FAILED'}  "
            f"wall {r['wall_s']:.2f}s  child runs/s {fmt(r['runs_per_s'])}  "
            f"SDK calls/s {fmt(r['calls_per_s'])} ({r['calls']} calls)  "
            f"server CPU {r['cpu_ms_per_call']:.3f} ms/call "
            f"(server {r['server_cpu_util']:.0%}, app {r['app_cpu_util']:.0%} of a core)  "
            f"PostgreSQL CPU {r.get('db_cpu_ms_per_call', 0):.3f} ms/call "
            f"({r.get('db_cpu_util', 0):.0%})  peak RSS {r['peak_rss_mb']:.0f} MB  "
            f"event->first step p50 {fmt(r['lat_p50_ms'])} ms p99 {fmt(r['lat_p99_ms'])} ms"
        )
        waits = r.get("db_waits")
        if waits:
            shown = ", ".join(f"{what} {count:.2f}" for what, count in waits.items())
            line += f"\n     PostgreSQL backends, on average: {shown}"
        c = ceil.get((r["mode"], r["n"]))
        if c is not None:
            line += (
                f"\n     SDK app ceiling (no server): {fmt(c['calls_per_s'])} calls/s = "
                f"{fmt(c['runs_per_s'])} child runs/s; server-driven / ceiling = "
                f"{r['runs_per_s'] / c['runs_per_s']:.1%}"
            )
        print(line)
    if results.get("ingest"):
        print(
            f"\n=== ingest burst ({INGEST_POSTS} concurrent POST /e/ of {INGEST_CHUNK:,} events, "
            "triggering nothing) ==="
        )
        for i in results["ingest"]:
            print(
                f"{i['setup']:<16} after N={i['n']:>6}: {fmt(i['events_per_s'])} events/s "
                f"({i['elapsed_s']:.2f}s)  server CPU {i['server_cpu_us_per_event']:.0f} us/event  "
                f"PostgreSQL CPU {i['db_cpu_us_per_event']:.0f} us/event"
            )
    print(f"\n=== idle latency ({IDLE_EVENTS} single events, one at a time; {IDLE_SOURCE}) ===")
    for i in results["idle"]:
        print(
            f"{i['mode']:>5} {i.get('setup', DEV.label):<16}: p50 {i['p50_ms']:.2f} ms  "
            f"p99 {i['p99_ms']:.2f} ms  min {i['min_ms']:.2f} ms  (from POST sent: p50 "
            f"{i['send_p50_ms']:.2f} ms; POST /e/ round trip p50 {i['post_p50_ms']:.2f} "
            f"p99 {i['post_p99_ms']:.2f} ms)"
        )
    print(f"\nload average before/after: {results['loadavg_before']} / {results['loadavg_after']}")
    if float(results["loadavg_before"][0]) > 0.5:
        print("WARNING: the machine was not idle when the benchmark started: figures are noisy.")
    print("Note: the load generator (this process), the server and the app share the machine's")
    print(f"{os.cpu_count()} cores; the ceiling's load generator competes with the SDK app too.")
    print("\n=== targets ===")
    for name, ok, detail in targets(results):
        mark = "PASS" if ok else ("MISS" if ok is False else "n/a ")
        print(f"  {mark}  {name}  {detail}")


def markdown(results: dict[str, Any]) -> str:
    ceil = {(c.get("mode", "sdk"), c["n"]): c for c in results["ceiling"]}
    lines = [
        "| mode | setup | N | ok | wall s | child runs/s | SDK calls/s | server CPU ms/call "
        "| PostgreSQL CPU ms/call | peak RSS MB | event→first step p50 / p99 ms "
        "| SDK ceiling runs/s | vs ceiling |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results["fanout"]:
        c = ceil.get((r["mode"], r["n"]))
        vs = f"{r['runs_per_s'] / c['runs_per_s']:.1%}" if c else "-"
        db_cpu = f"{r['db_cpu_ms_per_call']:.3f}" if r.get("backend") == "postgres" else "-"
        lines.append(
            f"| {r['mode']} | {r.get('setup', DEV.label)} | {r['n']:,} "
            f"| {'yes' if r['ok'] else '**FAILED**'} "
            f"| {r['wall_s']:.2f} | {fmt(r['runs_per_s'])} | {fmt(r['calls_per_s'])} "
            f"| {r['cpu_ms_per_call']:.3f} | {db_cpu} | {r['peak_rss_mb']:.0f} "
            f"| {fmt(r['lat_p50_ms'])} / {fmt(r['lat_p99_ms'])} "
            f"| {fmt(c['runs_per_s']) if c else '-'} "
            f"| {vs} |"
        )
    if results.get("ingest"):
        lines += [
            "",
            f"| ingest burst ({INGEST_POSTS} x {INGEST_CHUNK:,} events) | after N | events/s "
            "| s | server CPU µs/event | PostgreSQL CPU µs/event |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for i in results["ingest"]:
            db_cpu = f"{i['db_cpu_us_per_event']:.0f}" if i["setup"].startswith("pg") else "-"
            lines.append(
                f"| {i['setup']} | {i['n']:,} | {fmt(i['events_per_s'])} | {i['elapsed_s']:.2f} "
                f"| {i['server_cpu_us_per_event']:.0f} | {db_cpu} |"
            )
    lines += [
        "",
        "| idle latency | setup | POST returned→first call p50 / p99 ms | min ms "
        "| POST sent→first call p50 / p99 ms | POST /e/ round trip p50 / p99 ms |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for i in results["idle"]:
        lines.append(
            f"| {i['mode']} | {i.get('setup', DEV.label)} | {i['p50_ms']:.2f} / {i['p99_ms']:.2f} "
            f"| {i['min_ms']:.2f} | {i['send_p50_ms']:.2f} / {i['send_p99_ms']:.2f} "
            f"| {i['post_p50_ms']:.2f} / {i['post_p99_ms']:.2f} |"
        )
    lines += ["", "| target | result | value |", "| --- | --- | --- |"]
    for name, ok, detail in targets(results):
        lines.append(
            f"| {name} | {'PASS' if ok else 'MISS' if ok is False else 'n/a'} | {detail} |"
        )
    return "\n".join(lines)
