from __future__ import annotations

from datetime import datetime, timedelta

from stand_ins import emails, mailchimp
from static_fanout import client
from static_fanout import functions as first_consumers

import surge

ONBOARDING = [("getting-started", 1), ("power-tips", 3), ("check-in", 7)]  # days after signup


@client.create_function(fn_id="add-to-mailing-list", trigger="user/account.created")
async def add_to_mailing_list(ctx: surge.Context) -> dict[str, str]:
    email = ctx.event.data["email"]
    return await ctx.step.run("subscribe", mailchimp.add_member, "newsletter", email)


@client.create_function(fn_id="schedule-onboarding-sequence", trigger="user/account.created")
async def schedule_onboarding_sequence(ctx: surge.Context) -> list[str]:
    user = ctx.event.data
    signed_up = datetime.fromisoformat(user["signed_up_at"])
    sent = []
    for template, days in ONBOARDING:
        # The run sleeps on the server (no worker held) until the email is due.
        await ctx.step.sleep_until(f"wait-for-{template}", signed_up + timedelta(days=days))
        html = f"<p>{template} for {user['name']}</p>"
        await ctx.step.run(f"send-{template}", emails.send, user["email"], template, html)
        sent.append(template)
    return sent


functions = [*first_consumers, add_to_mailing_list, schedule_onboarding_sequence]
app = surge.asgi_app(client, functions)
