"""A Surge-SDK app for the browser tests: a static fan-out on ``shop/user.signup``.

Three functions react to each signup; ``charge-card`` (no retries) fails while the app runs
with ``--broken``, as a bug would, and succeeds once the app is started again without it.

Usage: ``python tests/e2e/apps/shop_app.py PORT SERVER_URL [--broken]``
"""

from __future__ import annotations

import argparse

import uvicorn

import surge


def build(server: str, *, broken: bool) -> object:
    client = surge.Surge(app_id="shop", mode="dev", api_origin=server, event_api_origin=server)

    @client.create_function(fn_id="send-welcome", trigger="shop/user.signup")
    async def send_welcome(ctx: surge.Context) -> str:
        async def send() -> str:
            return f"welcome sent to {ctx.event.data['user_id']}"

        return await ctx.step.run("send-email", send)

    @client.create_function(fn_id="start-trial", trigger="shop/user.signup")
    def start_trial(ctx: surge.SyncContext) -> dict[str, str]:
        customer = ctx.step.run("create-customer", lambda: f"cus_{ctx.event.data['user_id']}")
        return {"trial": ctx.step.run("create-trial", lambda: f"trial_for_{customer}")}

    @client.create_function(fn_id="charge-card", trigger="shop/user.signup", retries=0)
    def charge_card(ctx: surge.SyncContext) -> str:
        def charge() -> str:
            if broken:
                raise RuntimeError("card processor URL is misconfigured")
            return f"charged {ctx.event.data['user_id']}"

        return ctx.step.run("charge", charge)

    return surge.asgi_app(client, [send_welcome, start_trial, charge_card])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("server")
    parser.add_argument("--broken", action="store_true")
    args = parser.parse_args()
    app = build(args.server.rstrip("/"), broken=args.broken)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
