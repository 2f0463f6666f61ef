from __future__ import annotations

from typing import Any

from stand_ins import db, emails

import surge

client = surge.Surge(app_id="signup-flow")


@client.create_function(
    fn_id="weekly-activity-load-users",
    # Every Friday at noon, and on demand with a `digest/weekly.requested` event.
    trigger=[surge.TriggerCron(cron="0 12 * * 5"), "digest/weekly.requested"],
)
async def load_users(ctx: surge.Context) -> dict[str, int]:
    users = await ctx.step.run("fetch-users", db.fetch_users)
    # One event per user, each starting its own run of the worker. One step, however many
    # users: the SDK splits the list so that no request exceeds the server's limits.
    await ctx.step.send_event(
        "fan-out-weekly-emails",
        [
            surge.Event(
                name="app/weekly-email-activity.send",
                data={"user": {"id": user["id"], "email": user["email"]}},
            )
            for user in users
        ],
    )
    return {"count": len(users)}


@client.create_function(
    fn_id="weekly-activity-send-email",
    trigger="app/weekly-email-activity.send",
    concurrency=50,  # at most 50 of its steps executing at once, however many events arrive
)
async def send_reminder(ctx: surge.Context) -> dict[str, Any]:
    user = ctx.event.data["user"]
    activity = await ctx.step.run("load-user-data", db.load_user_activity, user["id"])
    html = f"<p>{activity['events']} things happened this week</p>"
    return await ctx.step.run("email-user", emails.send, user["email"], "Your week", html)


functions = [load_users, send_reminder]
app = surge.asgi_app(client, functions)
