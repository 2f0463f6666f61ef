"""The compatibility app's waiting steps and run lifecycle: waitForEvent, invoke, cancelOn.

Imported by ``app.py``; each step body marks its group in the app's ledger, so a test can
see which steps ran, in which order, and that nothing ran after a cancellation.
"""

from __future__ import annotations

import asyncio
import datetime
from typing import Any, Protocol

import inngest
from inngest.experimental import ai


class Marks(Protocol):
    def mark(self, group: str, name: str) -> None: ...


def make_functions(client: inngest.Inngest, ledger: Marks) -> list[inngest.Function[Any]]:
    """The lifecycle functions of `client`, recording into `ledger`."""
    return [
        *_waits(client, ledger),
        *_cancels(client, ledger),
        *_limits(client, ledger),
        _inferrer(client),
    ]


def _waits(client: inngest.Inngest, ledger: Marks) -> list[inngest.Function[Any]]:
    @client.create_function(
        fn_id="approval", trigger=inngest.TriggerEvent(event="compat/approval.requested")
    )
    async def approval(ctx: inngest.Context) -> dict[str, Any]:
        group = ctx.event.data["group"]

        async def requested() -> None:
            ledger.mark(group, "requested")

        await ctx.step.run("requested", requested)
        decided = await ctx.step.wait_for_event(
            "await-decision",
            event="compat/approval.decided",
            if_exp="event.data.request_id == async.data.request_id",
            timeout=datetime.timedelta(milliseconds=int(ctx.event.data["timeout_ms"])),
        )
        return {"decision": None if decided is None else decided.data.get("decision")}

    @client.create_function(fn_id="child", trigger=inngest.TriggerEvent(event="compat/child.run"))
    async def child(ctx: inngest.Context) -> dict[str, Any]:
        data = ctx.event.data
        if data.get("sleep_ms"):
            await ctx.step.sleep("linger", datetime.timedelta(milliseconds=int(data["sleep_ms"])))
        if data.get("fail"):
            raise inngest.NonRetriableError(f"child refused {data.get('x')}")
        return {"doubled": int(data.get("x", 0)) * 2, "event": ctx.event.name}

    @client.create_function(
        fn_id="invoker", trigger=inngest.TriggerEvent(event="compat/invoker.start")
    )
    async def invoker(ctx: inngest.Context) -> dict[str, Any]:
        data = ctx.event.data
        timeout = data.get("timeout_ms")
        try:
            if data.get("target") in ("missing", "other-app"):
                function_id = "child" if data["target"] == "other-app" else "no-such-function"
                result = await ctx.step.invoke_by_id(
                    "call", app_id=data.get("app"), function_id=function_id, data={"x": data["x"]}
                )
            else:
                result = await ctx.step.invoke(
                    "call",
                    function=child,
                    data={k: v for k, v in data.items() if k != "timeout_ms"},
                    timeout=None if timeout is None else datetime.timedelta(milliseconds=timeout),
                )
        except Exception as exc:  # the SDK raises the child's error, or the timeout
            return {"error": str(exc), "type": type(exc).__name__}
        return {"result": result}

    return [approval, child, invoker]


def _cancels(client: inngest.Inngest, ledger: Marks) -> list[inngest.Function[Any]]:
    @client.create_function(
        fn_id="cancellable",
        trigger=inngest.TriggerEvent(event="compat/cancellable.start"),
        cancel=[
            inngest.Cancel(
                event="compat/cancellable.stop", if_exp="event.data.group == async.data.group"
            )
        ],
    )
    async def cancellable(ctx: inngest.Context) -> str:
        group = ctx.event.data["group"]

        async def first() -> None:
            ledger.mark(group, "first")

        async def second() -> None:
            ledger.mark(group, "second")

        await ctx.step.run("first", first)
        await ctx.step.sleep("nap", datetime.timedelta(seconds=30))
        await ctx.step.run("second", second)
        return "finished"

    @client.create_function(fn_id="slow", trigger=inngest.TriggerEvent(event="compat/slow.start"))
    async def slow(ctx: inngest.Context) -> str:
        group = ctx.event.data["group"]

        async def slow_step() -> str:
            ledger.mark(group, "slow-began")
            await asyncio.sleep(float(ctx.event.data["step_s"]))
            ledger.mark(group, "slow-ended")
            return "slow-result"

        async def after() -> None:
            ledger.mark(group, "after")

        await ctx.step.run("slow", slow_step)
        await ctx.step.run("after", after)
        return "finished"

    return [cancellable, slow]


def _limits(client: inngest.Inngest, ledger: Marks) -> list[inngest.Function[Any]]:
    async def nap_between(ctx: inngest.Context, label: str) -> str:
        """Mark ``first-<label>``, sleep 30 s, mark ``second-<label>``."""
        group = ctx.event.data["group"]

        async def first() -> None:
            ledger.mark(group, f"first-{label}")

        async def second() -> None:
            ledger.mark(group, f"second-{label}")

        await ctx.step.run("first", first)
        await ctx.step.sleep("nap", datetime.timedelta(seconds=30))
        await ctx.step.run("second", second)
        return label

    @client.create_function(
        fn_id="single-skip",
        trigger=inngest.TriggerEvent(event="compat/single.skip"),
        singleton=inngest.Singleton(key="event.data.group", mode="skip"),
    )
    async def single_skip(ctx: inngest.Context) -> str:
        return await nap_between(ctx, str(ctx.event.data["n"]))

    @client.create_function(
        fn_id="single-cancel",
        trigger=inngest.TriggerEvent(event="compat/single.cancel"),
        singleton=inngest.Singleton(key="event.data.group", mode="cancel"),
    )
    async def single_cancel(ctx: inngest.Context) -> str:
        return await nap_between(ctx, str(ctx.event.data["n"]))

    @client.create_function(
        fn_id="finish-timeout",
        trigger=inngest.TriggerEvent(event="compat/finish.timeout"),
        timeouts=inngest.Timeouts(finish=datetime.timedelta(seconds=2)),
    )
    async def finish_timeout(ctx: inngest.Context) -> str:
        return await nap_between(ctx, "only")

    @client.create_function(
        fn_id="start-timeout",
        trigger=inngest.TriggerEvent(event="compat/start.timeout"),
        concurrency=[inngest.Concurrency(limit=1)],
        timeouts=inngest.Timeouts(start=datetime.timedelta(seconds=1)),
    )
    async def start_timeout(ctx: inngest.Context) -> str:
        group, label = ctx.event.data["group"], str(ctx.event.data["n"])

        async def hold() -> None:
            ledger.mark(group, f"hold-{label}")
            await asyncio.sleep(float(ctx.event.data["hold_s"]))

        await ctx.step.run("hold", hold)
        return label

    return [single_skip, single_cancel, finish_timeout, start_timeout]


def _inferrer(client: inngest.Inngest) -> inngest.Function[Any]:
    @client.create_function(fn_id="inferrer", trigger=inngest.TriggerEvent(event="compat/infer"))
    async def inferrer(ctx: inngest.Context) -> Any:
        adapter = ai.openai.Adapter(
            auth_key="sk-test", base_url=ctx.event.data["base_url"], model="gpt-test"
        )
        body = {"messages": [{"role": "user", "content": "hi"}]}
        return await ctx.step.ai.infer("ask", adapter=adapter, body=body)

    return inferrer
