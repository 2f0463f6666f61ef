from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from stand_ins import emails, hubspot, slack, stripe

import surge

client = surge.Surge(app_id="signup")  # SURGE_DEV=1 (or the server's URL) for `surge dev`


def sign_up(user_id: str, email: str, name: str) -> str:
    """The producer (your signup route): fire once; every consumer reacts on its own."""
    signed_up_at = datetime.now(UTC).isoformat()
    user = {"user_id": user_id, "email": email, "name": name, "plan": "free"}
    event = surge.Event(name="user/account.created", data={**user, "signed_up_at": signed_up_at})
    (event_id,) = client.send_sync(event)
    return event_id


@client.create_function(fn_id="send-welcome-email", trigger="user/account.created")
async def send_welcome_email(ctx: surge.Context) -> dict[str, str]:
    user = ctx.event.data
    return await ctx.step.run("send-email", emails.send_welcome, user["email"], user["name"])


@client.create_function(fn_id="create-billing-trial", trigger="user/account.created", retries=5)
async def create_billing_trial(ctx: surge.Context) -> dict[str, Any]:
    user = ctx.event.data
    customer = await ctx.step.run(
        "create-stripe-customer", stripe.create_customer, user["email"], user["user_id"]
    )
    return await ctx.step.run("start-trial", stripe.start_trial, customer["id"], 14)


@client.create_function(fn_id="add-user-to-crm", trigger="user/account.created")
def add_to_crm(ctx: surge.SyncContext) -> dict[str, str]:  # a plain def runs in a thread
    user = ctx.event.data
    first_name = user["name"].split(" ")[0]
    return ctx.step.run(
        "create-hubspot-contact", hubspot.create_contact, user["email"], first_name, user["plan"]
    )


@client.create_function(fn_id="notify-team-slack", trigger="user/account.created", retries=1)
async def notify_team(ctx: surge.Context) -> dict[str, Any]:
    user = ctx.event.data
    text = f"New signup: {user['name']} ({user['email']})"
    return await ctx.step.run("post-to-slack", slack.post, "#signups", text)


functions = [send_welcome_email, create_billing_trial, add_to_crm, notify_team]
app = surge.asgi_app(client, functions)  # `uvicorn static_fanout:app`
