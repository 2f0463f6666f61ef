"""Example app: the fan-out patterns of Inngest's guides, written with the Surge SDK.

- Static fan-out: four independent functions react to `app/user.signup`, each with its own
  retries; a failure in one does not touch the others.
- Dynamic fan-out: a weekly cron loads users and sends one `app/weekly-digest.send` event per
  user; each event starts its own run of `send-weekly-digest` (at most 50 at a time).

`make dev` runs it together with Surge and sends a first signup event.
"""

from __future__ import annotations

import surge

client = surge.Surge(app_id="signup-flow")


@client.create_function(fn_id="send-welcome-email", trigger="app/user.signup")
async def send_welcome_email(ctx: surge.Context) -> dict[str, str]:
    async def send() -> str:
        return f"welcome email sent to {ctx.event.data['email']}"

    return {"result": await ctx.step.run("send-email", send)}


@client.create_function(fn_id="start-stripe-trial", trigger="app/user.signup", retries=5)
async def start_stripe_trial(ctx: surge.Context) -> dict[str, str]:
    async def create_customer() -> str:
        return f"cus_{ctx.event.data['user_id']}"

    async def create_subscription(customer: str) -> str:
        return f"sub_for_{customer}"

    customer = await ctx.step.run("create-customer", create_customer)
    subscription = await ctx.step.run("create-subscription", create_subscription, customer)
    return {"customer": customer, "subscription": subscription}


@client.create_function(fn_id="add-to-crm", trigger="app/user.signup")
def add_to_crm(ctx: surge.SyncContext) -> dict[str, str]:
    return ctx.step.run("create-contact", lambda: {"email": ctx.event.data["email"]})


@client.create_function(fn_id="notify-team-slack", trigger="app/user.signup", retries=1)
def notify_team_slack(ctx: surge.SyncContext) -> str:
    return ctx.step.run("post-to-slack", lambda: f"New signup: {ctx.event.data['email']}")


@client.create_function(
    fn_id="weekly-digest-orchestrator", trigger=surge.TriggerCron(cron="0 9 * * MON")
)
async def weekly_digest_orchestrator(ctx: surge.Context) -> dict[str, int]:
    async def fetch_recipients() -> list[dict[str, str]]:
        return [{"id": f"user-{i}", "email": f"user-{i}@example.com"} for i in range(25)]

    users = await ctx.step.run("fetch-digest-recipients", fetch_recipients)
    await ctx.step.send_event(
        "fan-out-weekly-digests",
        [surge.Event(name="app/weekly-digest.send", data=user) for user in users],
    )
    return {"dispatched": len(users)}


@client.create_function(
    fn_id="send-weekly-digest", trigger="app/weekly-digest.send", concurrency=50
)
async def send_weekly_digest(ctx: surge.Context) -> dict[str, str]:
    user_id = str(ctx.event.data["id"])

    async def build_content() -> str:
        return f"<h1>Your week, {user_id}</h1>"

    async def send_email(html: str) -> str:
        return f"sent {len(html)} bytes to {ctx.event.data['email']}"

    html = await ctx.step.run("build-digest-content", build_content)
    await ctx.step.run("send-digest-email", send_email, html)
    return {"user_id": user_id, "status": "sent"}


app = surge.asgi_app(
    client,
    [
        send_welcome_email,
        start_stripe_trial,
        add_to_crm,
        notify_team_slack,
        weekly_digest_orchestrator,
        send_weekly_digest,
    ],
)
