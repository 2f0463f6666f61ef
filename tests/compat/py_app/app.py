"""Compatibility app on the official Inngest Python SDK (PyPI ``inngest==0.5.19``).

The acceptance tests run this file unchanged against ``surge dev``, the way a user would run
their existing Inngest app. Nothing here knows about Surge: the SDK finds the server through
``INNGEST_DEV`` / ``INNGEST_BASE_URL``.

Every step body records its execution in an in-memory ledger keyed by run id and step id, so
a test can tell "ran exactly once" from "ran twice" (``GET /counts``, ``POST /reset``).

Usage: ``python app.py PORT`` (or ``PORT`` in the environment); serves ``/api/inngest``.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import sys
import threading
import time
from typing import Any

import fastapi
import inngest
import inngest.fast_api
import uvicorn
from lifecycle import make_functions

APP_ID = "compat-py"
SEND_CHUNK = 5000  # the most events one POST /e/ may carry
FLAKY_FAILURES = 2  # the flaky step fails this many times per run, then succeeds
DOOMED_MARKER = "compat-doomed-failure"
RETURNED = "(returned)"  # ledger key for "the handler reached its return statement"


class Ledger:
    """Thread-safe record of step executions (sync handlers run in the SDK's thread pool)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._runs: dict[str, dict[str, Any]] = {}
            self._failures: list[dict[str, Any]] = []
            self._seq = 0
            self._in_flight: dict[str, int] = {}
            self._peak: dict[str, int] = {}
            self._marks: dict[str, list[dict[str, Any]]] = {}

    def mark(self, group: str, name: str) -> None:
        """A step body of `group` starts now, as `name` (``GET /counts`` lists them in order)."""
        with self._lock:
            self._marks.setdefault(group, []).append({"t": time.time(), "name": name})

    def enter(self, *groups: str) -> None:
        """A step body of each of `groups` starts (``"*"`` counts them all)."""
        with self._lock:
            for group in groups:
                self._in_flight[group] = self._in_flight.get(group, 0) + 1
                self._peak[group] = max(self._peak.get(group, 0), self._in_flight[group])

    def leave(self, *groups: str) -> None:
        with self._lock:
            for group in groups:
                self._in_flight[group] -= 1

    def record(self, run_id: str, fn: str, step: str) -> int:
        """Count one execution of ``step`` in ``run_id``; return how many there have been."""
        with self._lock:
            self._seq += 1
            run = self._runs.setdefault(run_id, {"fn": fn, "steps": {}, "first_seq": {}})
            count: int = run["steps"].get(step, 0) + 1
            run["steps"][step] = count
            run["first_seq"].setdefault(step, self._seq)
            return count

    def record_failure(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._seq += 1
            self._failures.append({**entry, "seq": self._seq})

    def summary(self) -> dict[str, Any]:
        """Execution totals per function: cheap enough to poll while thousands of runs go."""
        with self._lock:
            by_fn: dict[str, int] = {}
            for run in self._runs.values():
                by_fn[run["fn"]] = by_fn.get(run["fn"], 0) + sum(run["steps"].values())
            return {"total_executions": sum(by_fn.values()), "by_fn": by_fn}

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            runs = {
                run_id: {
                    "fn": run["fn"],
                    "steps": dict(run["steps"]),
                    "first_seq": dict(run["first_seq"]),
                }
                for run_id, run in self._runs.items()
            }
            total = sum(sum(run["steps"].values()) for run in runs.values())
            return {
                "runs": runs,
                "failures": list(self._failures),
                "total_executions": total,
                "peak_in_flight": dict(self._peak),
                "marks": {group: list(marks) for group, marks in self._marks.items()},
            }


ledger = Ledger()
# Dev mode when INNGEST_DEV is set (surge dev); otherwise production mode, with the signing
# key, event key and origins from INNGEST_* variables (surge start).
client = inngest.Inngest(app_id=APP_ID, is_production=not os.environ.get("INNGEST_DEV"))


def counted(ctx: inngest.Context | inngest.ContextSync, fn: str, step: str) -> int:
    return ledger.record(ctx.run_id, fn, step)


async def pause(ctx: inngest.Context) -> None:
    """Optional per-step delay (``data.step_sleep_ms``), so a test can catch work in flight."""
    delay_ms = ctx.event.data.get("step_sleep_ms") or 0
    if isinstance(delay_ms, int | float) and delay_ms > 0:
        await asyncio.sleep(delay_ms / 1000)


# --- (a) static fan-out: three functions on one event; one of them fails for good ----------
# Sync handlers here (the SDK runs them in its thread pool); the rest of the app is async.


@client.create_function(
    fn_id="signup-welcome", trigger=inngest.TriggerEvent(event="compat/user.signup")
)
def signup_welcome(ctx: inngest.ContextSync) -> dict[str, Any]:
    def render() -> str:
        counted(ctx, "signup-welcome", "render-email")
        return f"Welcome, {ctx.event.data.get('user_id')}!"

    def deliver() -> dict[str, Any]:
        counted(ctx, "signup-welcome", "send-email")
        return {"delivered": True}

    body = ctx.step.run("render-email", render)
    receipt = ctx.step.run("send-email", deliver)
    return {"body": body, **receipt}


@client.create_function(
    fn_id="signup-crm", trigger=inngest.TriggerEvent(event="compat/user.signup")
)
def signup_crm(ctx: inngest.ContextSync) -> dict[str, Any]:
    def upsert() -> str:
        counted(ctx, "signup-crm", "upsert-contact")
        return f"contact-{ctx.event.data.get('user_id')}"

    contact = ctx.step.run("upsert-contact", upsert)
    return {"contact": contact}


@client.create_function(
    fn_id="signup-broken", trigger=inngest.TriggerEvent(event="compat/user.signup")
)
def signup_broken(ctx: inngest.ContextSync) -> None:
    def validate() -> bool:
        counted(ctx, "signup-broken", "validate")
        return False

    ctx.step.run("validate", validate)
    counted(ctx, "signup-broken", "raise")
    raise inngest.NonRetriableError("signup data is invalid")


# --- (b) dynamic fan-out ---------------------------------------------------------------------


@client.create_function(
    fn_id="fanout-orchestrator", trigger=inngest.TriggerEvent(event="compat/fanout.start")
)
async def fanout_orchestrator(ctx: inngest.Context) -> dict[str, Any]:
    data = dict(ctx.event.data)
    count = int(data.get("count", 0))  # type: ignore[arg-type]

    async def load_ids() -> list[str]:
        counted(ctx, "fanout-orchestrator", "load-ids")
        return [f"item-{i}" for i in range(count)]

    ids = await ctx.step.run("load-ids", load_ids)
    passthrough = {k: v for k, v in data.items() if k in ("tag", "step_sleep_ms")}
    event_ids: list[str] = []
    for chunk_no, start in enumerate(range(0, len(ids), SEND_CHUNK)):
        events = [
            inngest.Event(name="compat/fanout.item", data={**passthrough, "item_id": item_id})
            for item_id in ids[start : start + SEND_CHUNK]
        ]
        event_ids.extend(await ctx.step.send_event(f"send-items-{chunk_no}", events))
    return {"count": len(ids), "event_ids": event_ids}


@client.create_function(
    fn_id="fanout-worker", trigger=inngest.TriggerEvent(event="compat/fanout.item")
)
async def fanout_worker(ctx: inngest.Context) -> dict[str, Any]:
    item_id = str(ctx.event.data.get("item_id"))

    async def fetch() -> dict[str, Any]:
        counted(ctx, "fanout-worker", "fetch-item")
        await pause(ctx)
        return {"item_id": item_id, "size": len(item_id)}

    async def process(item: dict[str, Any]) -> str:
        counted(ctx, "fanout-worker", "process-item")
        await pause(ctx)
        return f"processed:{item['item_id']}:{item['size']}"

    item = await ctx.step.run("fetch-item", fetch)
    result = await ctx.step.run("process-item", process, item)
    # Not a step: counts the calls that got past both steps (each replays them from memos).
    # Such a call proves the server had both step results, which the crash test relies on.
    counted(ctx, "fanout-worker", RETURNED)
    return {"item_id": item_id, "result": result}


# --- (b2) a limited worker: two steps per run, at most 2 at once per group -------------------


@client.create_function(
    fn_id="limited-worker",
    trigger=inngest.TriggerEvent(event="compat/limited.item"),
    concurrency=[inngest.Concurrency(limit=2, key="event.data.group")],
)
async def limited_worker(ctx: inngest.Context) -> str:
    group = str(ctx.event.data.get("group"))

    async def work(step: str) -> str:
        ledger.enter("*", group)
        try:
            counted(ctx, "limited-worker", step)
            await pause(ctx)
        finally:
            ledger.leave("*", group)
        return step

    await ctx.step.run("first", work, "first")
    return await ctx.step.run("second", work, "second")


# --- (b3) start gates: a throttle, a rate limit, an idempotency key, priority ---------------


@client.create_function(
    fn_id="throttled",
    trigger=inngest.TriggerEvent(event="compat/throttled.item"),
    throttle=inngest.Throttle(
        limit=2, period=datetime.timedelta(seconds=2), burst=1, key="event.data.group"
    ),
)
async def throttled(ctx: inngest.Context) -> str:
    def stamp() -> str:
        ledger.mark(str(ctx.event.data.get("group")), str(ctx.event.data.get("name")))
        counted(ctx, "throttled", "stamp")
        return "stamped"

    return await ctx.step.run("stamp", stamp)


@client.create_function(
    fn_id="rate-limited",
    trigger=inngest.TriggerEvent(event="compat/rated.item"),
    rate_limit=inngest.RateLimit(
        limit=1, period=datetime.timedelta(hours=1), key="event.data.group"
    ),
)
async def rate_limited(ctx: inngest.Context) -> str:
    def once() -> str:
        counted(ctx, "rate-limited", "once")
        return "synced"

    return await ctx.step.run("once", once)


@client.create_function(
    fn_id="idempotent",
    trigger=inngest.TriggerEvent(event="compat/idempotent.item"),
    idempotency="event.data.order",
)
async def idempotent(ctx: inngest.Context) -> str:
    def charge() -> str:
        counted(ctx, "idempotent", "charge")
        return f"charged:{ctx.event.data.get('order')}"

    return await ctx.step.run("charge", charge)


@client.create_function(
    fn_id="prioritized",
    trigger=inngest.TriggerEvent(event="compat/prioritized.item"),
    concurrency=[inngest.Concurrency(limit=1, key="event.data.group")],
    priority=inngest.Priority(run="event.data.vip ? 300 : 0"),
)
async def prioritized(ctx: inngest.Context) -> str:
    async def serve() -> str:
        ledger.mark(str(ctx.event.data.get("group")), str(ctx.event.data.get("name")))
        counted(ctx, "prioritized", "serve")
        await pause(ctx)
        return "served"

    return await ctx.step.run("serve", serve)


# --- (b4) gathers: a debounce and an event batch --------------------------------------------


@client.create_function(
    fn_id="debounced",
    trigger=inngest.TriggerEvent(event="compat/debounced.item"),
    debounce=inngest.Debounce(period=datetime.timedelta(seconds=1), key="event.data.group"),
)
async def debounced(ctx: inngest.Context) -> Any:
    def settle() -> Any:
        ledger.mark(str(ctx.event.data.get("group")), str(ctx.event.data.get("v")))
        counted(ctx, "debounced", "settle")
        return ctx.event.data.get("v")

    return await ctx.step.run("settle", settle)


@client.create_function(
    fn_id="batched",
    trigger=inngest.TriggerEvent(event="compat/batched.item"),
    batch_events=inngest.Batch(
        max_size=3, timeout=datetime.timedelta(seconds=1), key="event.data.group"
    ),
)
async def batched(ctx: inngest.Context) -> list[Any]:
    numbers = [event.data.get("n") for event in ctx.events]

    def record() -> list[Any]:
        ledger.mark(str(ctx.event.data.get("group")), ",".join(map(str, numbers)))
        counted(ctx, "batched", "record")
        return numbers

    return await ctx.step.run("record", record)


# --- (c) chained fan-out: one function emits an event three others consume -------------------


@client.create_function(
    fn_id="order-placed", trigger=inngest.TriggerEvent(event="compat/order.placed")
)
async def order_placed(ctx: inngest.Context) -> dict[str, Any]:
    order_id = str(ctx.event.data.get("order_id"))

    async def reserve() -> str:
        counted(ctx, "order-placed", "reserve-stock")
        return f"reservation-{order_id}"

    async def charge() -> str:
        counted(ctx, "order-placed", "charge-card")
        return f"charge-{order_id}"

    reservation = await ctx.step.run("reserve-stock", reserve)
    payment = await ctx.step.run("charge-card", charge)
    event_ids = await ctx.step.send_event(
        "emit-confirmed",
        inngest.Event(
            name="compat/order.confirmed",
            data={"order_id": order_id, "tag": ctx.event.data.get("tag"), "payment": payment},
        ),
    )
    return {"reservation": reservation, "payment": payment, "event_ids": event_ids}


def _make_consumer(name: str) -> inngest.Function[Any]:
    @client.create_function(
        fn_id=name, trigger=inngest.TriggerEvent(event="compat/order.confirmed")
    )
    def consumer(ctx: inngest.ContextSync) -> dict[str, Any]:
        def handle() -> str:
            counted(ctx, name, "handle")
            return f"{name}:{ctx.event.data.get('order_id')}"

        return {"handled": ctx.step.run("handle", handle)}

    return consumer


order_consumers = [
    _make_consumer(name)
    for name in ("confirmed-email", "confirmed-analytics", "confirmed-shipping")
]


# --- (d) flaky step: fails twice, then succeeds -----------------------------------------------


@client.create_function(fn_id="flaky", trigger=inngest.TriggerEvent(event="compat/flaky.start"))
async def flaky(ctx: inngest.Context) -> dict[str, Any]:
    async def call_unreliable_api() -> dict[str, Any]:
        attempt = counted(ctx, "flaky", "unreliable-call")
        if attempt <= FLAKY_FAILURES:
            raise RuntimeError(f"transient failure on execution {attempt}")
        return {"succeeded_on_execution": attempt}

    return await ctx.step.run("unreliable-call", call_unreliable_api)


# --- (e) on_failure handler -----------------------------------------------------------------


async def doomed_on_failure(ctx: inngest.Context) -> None:
    data = ctx.event.data
    error = data.get("error")
    message = error.get("message") if isinstance(error, dict) else None
    ledger.record_failure(
        {
            "handler_run_id": ctx.run_id,
            "event_name": ctx.event.name,
            "function_id": data.get("function_id"),
            "failed_run_id": data.get("run_id"),
            "error_message": message,
            "error_status": error.get("error") if isinstance(error, dict) else None,
        }
    )


@client.create_function(
    fn_id="doomed",
    retries=1,
    on_failure=doomed_on_failure,
    trigger=inngest.TriggerEvent(event="compat/doomed.start"),
)
async def doomed(ctx: inngest.Context) -> None:
    async def always_fails() -> None:
        attempt = counted(ctx, "doomed", "always-fails")
        raise RuntimeError(f"{DOOMED_MARKER} (execution {attempt})")

    await ctx.step.run("always-fails", always_fails)


FUNCTIONS: list[inngest.Function[Any]] = [
    signup_welcome,
    signup_crm,
    signup_broken,
    fanout_orchestrator,
    fanout_worker,
    limited_worker,
    throttled,
    rate_limited,
    idempotent,
    prioritized,
    debounced,
    batched,
    order_placed,
    *order_consumers,
    flaky,
    doomed,
    *make_functions(client, ledger),
]

app = fastapi.FastAPI()
inngest.fast_api.serve(app, client, FUNCTIONS)


@app.get("/counts")
def get_counts(summary: bool = False) -> dict[str, Any]:
    return ledger.summary() if summary else ledger.snapshot()


@app.post("/reset")
def post_reset() -> dict[str, bool]:
    ledger.reset()
    return {"ok": True}


def main() -> None:
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PORT", "8301"))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
