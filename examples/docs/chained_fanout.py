from __future__ import annotations

from typing import Any

from stand_ins import db, emails, loyalty, sms, stripe, warehouse

import surge

client = surge.Surge(app_id="shop")


@client.create_function(fn_id="process-order", trigger="order/placed")
async def process_order(ctx: surge.Context) -> dict[str, str]:
    order = ctx.event.data
    charge = await ctx.step.run("charge-customer", stripe.charge, order["id"], order["total"])
    await ctx.step.run("update-inventory", warehouse.decrement_stock, order["id"], order["items"])
    fulfillment = await ctx.step.run(
        "create-fulfillment", warehouse.create_pick_order, order["id"], order["items"]
    )
    await ctx.step.run(
        "update-order-record",
        db.update_order,
        order["id"],
        {"status": "processing", "charge_id": charge["charge_id"]},
    )
    # The core work is done: announce it. Everything listening to order/confirmed starts now.
    await ctx.step.send_event(
        "trigger-order-notifications",
        surge.Event(
            name="order/confirmed",
            data={
                **order,
                "charge_id": charge["charge_id"],
                "estimated_delivery": fulfillment["estimated_delivery"],
            },
        ),
    )
    return {"charge_id": charge["charge_id"], "fulfillment_id": fulfillment["fulfillment_id"]}


@client.create_function(fn_id="send-order-confirmation-email", trigger="order/confirmed")
async def send_confirmation_email(ctx: surge.Context) -> dict[str, str]:
    order = ctx.event.data
    html = f"<p>{len(order['items'])} items, arriving {order['estimated_delivery']}</p>"
    subject = f"Order {order['id']} confirmed"
    return await ctx.step.run("send-email", emails.send, order["email"], subject, html)


@client.create_function(fn_id="send-order-sms", trigger="order/confirmed")
async def send_order_sms(ctx: surge.Context) -> dict[str, str]:
    order = ctx.event.data
    phone = await ctx.step.run("lookup-phone", db.customer_phone, order["customer_id"])
    return await ctx.step.run("send-sms", sms.send, phone, f"Order {order['id']} confirmed")


@client.create_function(fn_id="update-loyalty-points", trigger="order/confirmed")
async def update_loyalty_points(ctx: surge.Context) -> int:
    order = ctx.event.data
    points = order["total"] // 100
    return await ctx.step.run("add-points", loyalty.add_points, order["customer_id"], points)


@client.create_function(fn_id="notify-warehouse-system", trigger="order/confirmed")
async def notify_warehouse(ctx: surge.Context) -> dict[str, Any]:
    order = ctx.event.data
    priority = "high" if order["total"] > 10_000 else "normal"
    return await ctx.step.run("push-to-wms", warehouse.push, order["id"], order["items"], priority)


functions = [
    process_order,
    send_confirmation_email,
    send_order_sms,
    update_loyalty_points,
    notify_warehouse,
]
app = surge.asgi_app(client, functions)
