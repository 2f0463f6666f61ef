"""Example app: the fan-out patterns of Inngest's guides, on the official `inngest` SDK.

- Static fan-out: four independent functions react to `app/user.signup`.
- Dynamic fan-out: a weekly cron loads users and sends one `app/weekly-digest.send` event per
  user; each event starts its own run of `send-weekly-digest`.

Run it with `make dev`, which also starts Surge and sends a first signup event.
"""

from __future__ import annotations

import logging
import os

import fastapi
import inngest
import inngest.fast_api

client = inngest.Inngest(app_id="signup-flow", is_production=False, logger=logging.getLogger())


@client.create_function(
    fn_id="send-welcome-email", trigger=inngest.TriggerEvent(event="app/user.signup")
)
async def send_welcome_email(ctx: inngest.Context) -> dict[str, str]:
    email = str(ctx.event.data.get("email"))

    async def send() -> str:
        return f"welcome email sent to {email}"

    return {"result": await ctx.step.run("send-email", send)}


@client.create_function(
    fn_id="start-stripe-trial", trigger=inngest.TriggerEvent(event="app/user.signup"), retries=5
)
async def start_stripe_trial(ctx: inngest.Context) -> dict[str, str]:
    async def create_customer() -> str:
        return f"cus_{ctx.event.data.get('user_id')}"

    async def create_subscription(customer: str) -> str:
        return f"sub_for_{customer}"

    customer = await ctx.step.run("create-customer", create_customer)
    subscription = await ctx.step.run("create-subscription", create_subscription, customer)
    return {"customer": customer, "subscription": subscription}


@client.create_function(fn_id="add-to-crm", trigger=inngest.TriggerEvent(event="app/user.signup"))
def add_to_crm(ctx: inngest.ContextSync) -> None:
    ctx.step.run("create-contact", lambda: {"email": ctx.event.data.get("email")})


@client.create_function(
    fn_id="notify-team-slack", trigger=inngest.TriggerEvent(event="app/user.signup"), retries=1
)
def notify_team_slack(ctx: inngest.ContextSync) -> None:
    ctx.step.run("post-to-slack", lambda: f"New signup: {ctx.event.data.get('email')}")


@client.create_function(
    fn_id="weekly-digest-orchestrator", trigger=inngest.TriggerCron(cron="0 9 * * MON")
)
async def weekly_digest_orchestrator(ctx: inngest.Context) -> dict[str, int]:
    async def fetch_recipients() -> list[dict[str, str]]:
        return [{"id": f"user-{i}", "email": f"user-{i}@example.com"} for i in range(25)]

    users = await ctx.step.run("fetch-digest-recipients", fetch_recipients)
    await ctx.step.send_event(
        "fan-out-weekly-digests",
        [inngest.Event(name="app/weekly-digest.send", data=user) for user in users],
    )
    return {"dispatched": len(users)}


@client.create_function(
    fn_id="send-weekly-digest",
    trigger=inngest.TriggerEvent(event="app/weekly-digest.send"),
    concurrency=[inngest.Concurrency(limit=50)],
)
async def send_weekly_digest(ctx: inngest.Context) -> dict[str, str]:
    user_id = str(ctx.event.data.get("id"))

    async def build_content() -> str:
        return f"<h1>Your week, {user_id}</h1>"

    async def send_email(html: str) -> str:
        return f"sent {len(html)} bytes to {ctx.event.data.get('email')}"

    html = await ctx.step.run("build-digest-content", build_content)
    await ctx.step.run("send-digest-email", send_email, html)
    return {"user_id": user_id, "status": "sent"}


app = fastapi.FastAPI()
inngest.fast_api.serve(
    app,
    client,
    [
        send_welcome_email,
        start_stripe_trial,
        add_to_crm,
        notify_team_slack,
        weekly_digest_orchestrator,
        send_weekly_digest,
    ],
    serve_origin=os.environ.get("APP_ORIGIN", "http://127.0.0.1:8000"),
)
