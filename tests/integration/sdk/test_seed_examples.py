"""The seed examples, written with the Surge SDK, run on a real ``surge dev``.

Static fan-out (one signup event, three functions), dynamic fan-out (a digest function that
loads users and sends one event per user to a worker with ``concurrency=50``), and a chained
cascade (an order function whose event three consumers handle). Every step body counts its
executions, and each must have run exactly once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pytest

import surge

if TYPE_CHECKING:
    from .conftest import Ledger, Stack

USERS = 40


def build(client: surge.Surge, ledger: Ledger) -> Sequence[surge.Function[Any]]:
    return [
        *signup_fan_out(client, ledger),
        *weekly_digest(client, ledger),
        *orders(client, ledger),
    ]


def signup_fan_out(client: surge.Surge, ledger: Ledger) -> list[surge.Function[Any]]:
    """Static fan-out: one signup, three independent functions."""

    @client.create_function(fn_id="signup-welcome", trigger="shop/user.signup")
    def welcome(ctx: surge.SyncContext) -> dict[str, Any]:
        def render() -> str:
            ledger.count(ctx.run_id, "render-email")
            return f"Welcome, {ctx.event.data['user_id']}!"

        def deliver(body: str) -> dict[str, Any]:
            ledger.count(ctx.run_id, "send-email")
            return {"delivered": True, "length": len(body)}

        body = ctx.step.run("render-email", render)
        receipt = ctx.step.run("send-email", deliver, body)
        return {"body": body, **receipt}

    @client.create_function(fn_id="signup-crm", trigger="shop/user.signup")
    async def crm(ctx: surge.Context) -> dict[str, str]:
        async def upsert(user_id: str) -> str:
            ledger.count(ctx.run_id, "upsert-contact")
            return f"contact-{user_id}"

        return {"contact": await ctx.step.run("upsert-contact", upsert, ctx.event.data["user_id"])}

    @client.create_function(fn_id="signup-audit", trigger="shop/user.signup")
    async def audit(ctx: surge.Context) -> None:
        async def validate() -> bool:
            ledger.count(ctx.run_id, "validate")
            return False

        if not await ctx.step.run("validate", validate):
            raise surge.NonRetriableError("signup data is invalid")

    return [welcome, crm, audit]


def weekly_digest(client: surge.Surge, ledger: Ledger) -> list[surge.Function[Any]]:
    """Dynamic fan-out: one event per user, handled by a worker with concurrency 50."""

    @client.create_function(
        fn_id="weekly-digest",
        trigger=[
            surge.TriggerCron(cron="0 9 * * MON"),
            surge.TriggerEvent(event="shop/digest.run"),
        ],
    )
    async def digest(ctx: surge.Context) -> dict[str, int]:
        async def fetch_users() -> list[dict[str, str]]:
            ledger.count(ctx.run_id, "fetch-users")
            count = int(ctx.event.data.get("users", USERS))
            return [{"id": f"user-{i}", "email": f"user-{i}@example.com"} for i in range(count)]

        users = await ctx.step.run("fetch-users", fetch_users)
        ids = await ctx.step.send_event(
            "fan-out-weekly-emails",
            [surge.Event(name="shop/digest.email", data={"user": user}) for user in users],
        )
        return {"sent": len(ids)}

    @client.create_function(fn_id="digest-email", trigger="shop/digest.email", concurrency=50)
    async def digest_email(ctx: surge.Context) -> str:
        user = ctx.event.data["user"]

        async def load_activity() -> dict[str, Any]:
            ledger.count(ctx.run_id, "load-activity")
            return {"user": user["id"], "items": len(user["id"])}

        async def send_email(activity: dict[str, Any]) -> str:
            ledger.count(ctx.run_id, "send-email")
            return f"sent {activity['items']} items to {user['email']}"

        activity = await ctx.step.run("load-activity", load_activity)
        return await ctx.step.run("send-email", send_email, activity)

    return [digest, digest_email]


def orders(client: surge.Surge, ledger: Ledger) -> list[surge.Function[Any]]:
    """Chained fan-out: a placed order emits an event that three consumers handle."""

    @client.create_function(fn_id="order-placed", trigger="shop/order.placed")
    async def order_placed(ctx: surge.Context) -> dict[str, Any]:
        order_id = ctx.event.data["order_id"]

        async def reserve() -> str:
            ledger.count(ctx.run_id, "reserve-stock")
            return f"reservation-{order_id}"

        async def charge() -> str:
            ledger.count(ctx.run_id, "charge-card")
            return f"charge-{order_id}"

        reservation = await ctx.step.run("reserve-stock", reserve)
        payment = await ctx.step.run("charge-card", charge)
        await ctx.step.send_event(
            "emit-confirmed",
            surge.Event(
                name="shop/order.confirmed", data={"order_id": order_id, "payment": payment}
            ),
        )
        return {"reservation": reservation, "payment": payment}

    def consumer(name: str) -> surge.Function[str]:
        @client.create_function(fn_id=name, trigger="shop/order.confirmed")
        def handle(ctx: surge.SyncContext) -> str:
            def work() -> str:
                ledger.count(ctx.run_id, "handle")
                return f"{name}:{ctx.event.data['order_id']}"

            return ctx.step.run("handle", work)

        return handle

    consumers = [
        consumer(n) for n in ("confirmed-email", "confirmed-analytics", "confirmed-shipping")
    ]
    return [order_placed, *consumers]


@pytest.fixture(scope="module")
def stack(sdk_stack: Callable[..., Stack]) -> Stack:
    return sdk_stack(build)


def test_sync_registers_every_function(stack: Stack) -> None:
    slugs = stack.server.function_slugs()
    assert {
        "shop-signup-welcome",
        "shop-signup-crm",
        "shop-signup-audit",
        "shop-weekly-digest",
        "shop-digest-email",
        "shop-order-placed",
        "shop-confirmed-email",
    } <= slugs


def test_static_fan_out_runs_each_function_once_and_each_step_once(stack: Stack) -> None:
    user_id = f"u-{uuid.uuid4().hex[:8]}"
    (event_id,) = stack.send(surge.Event(name="shop/user.signup", data={"user_id": user_id}))
    runs = {run["function_id"]: run for run in stack.runs_of(event_id, 3)}
    assert set(runs) == {"shop-signup-welcome", "shop-signup-crm", "shop-signup-audit"}

    welcome = runs["shop-signup-welcome"]
    assert welcome["status"] == "Completed"
    assert welcome["output"] == {
        "body": f"Welcome, {user_id}!",
        "delivered": True,
        "length": len(f"Welcome, {user_id}!"),
    }
    assert stack.ledger.runs[welcome["run_id"]] == {"render-email": 1, "send-email": 1}

    crm = runs["shop-signup-crm"]
    assert crm["status"] == "Completed" and crm["output"] == {"contact": f"contact-{user_id}"}
    assert stack.ledger.runs[crm["run_id"]] == {"upsert-contact": 1}

    audit = runs["shop-signup-audit"]
    assert audit["status"] == "Failed"
    assert "signup data is invalid" in str(audit["error"])
    assert stack.ledger.runs[audit["run_id"]] == {"validate": 1}  # NonRetriableError: no retry


def test_dynamic_fan_out_sends_one_event_per_user_and_links_child_runs(stack: Stack) -> None:
    (event_id,) = stack.send({"name": "shop/digest.run", "data": {"users": USERS}})
    digest = stack.run_of(event_id, "shop-weekly-digest")
    assert digest["status"] == "Completed", digest
    assert digest["output"] == {"sent": USERS}
    assert stack.ledger.runs[digest["run_id"]] == {"fetch-users": 1}

    children = stack.server.request(
        "GET", "/v1/runs", params={"parent_run_id": digest["run_id"], "limit": 500}
    ).json()["data"]
    assert len(children) == USERS
    finished = [stack.server.wait_run(child["run_id"]) for child in children]
    assert all(run["status"] == "Completed" for run in finished), finished
    assert sorted(run["output"] for run in finished) == sorted(
        f"sent {len(f'user-{i}')} items to user-{i}@example.com" for i in range(USERS)
    )
    for run in finished:
        assert run["parent_run_id"] == digest["run_id"]
        assert stack.ledger.runs[run["run_id"]] == {"load-activity": 1, "send-email": 1}


def test_chained_cascade_runs_three_consumers_per_confirmed_order(stack: Stack) -> None:
    order_id = f"o-{uuid.uuid4().hex[:8]}"
    (event_id,) = stack.send({"name": "shop/order.placed", "data": {"order_id": order_id}})
    order = stack.run_of(event_id, "shop-order-placed")
    assert order["status"] == "Completed", order
    assert order["output"] == {
        "reservation": f"reservation-{order_id}",
        "payment": f"charge-{order_id}",
    }
    assert stack.ledger.runs[order["run_id"]] == {"reserve-stock": 1, "charge-card": 1}

    children = stack.server.request(
        "GET", "/v1/runs", params={"parent_run_id": order["run_id"]}
    ).json()["data"]
    finished = {run["function_id"]: stack.server.wait_run(run["run_id"]) for run in children}
    assert set(finished) == {
        "shop-confirmed-email",
        "shop-confirmed-analytics",
        "shop-confirmed-shipping",
    }
    for slug, run in finished.items():
        assert run["status"] == "Completed"
        assert run["output"] == f"{slug.removeprefix('shop-')}:{order_id}"
        assert stack.ledger.runs[run["run_id"]] == {"handle": 1}
