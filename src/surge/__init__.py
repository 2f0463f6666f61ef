"""Surge: event-driven durable functions for Python.

`import surge` is the SDK. The server lives in `surge.server`, `surge.engine` and
`surge.storage`; none of them is imported from here.

    import surge

    client = surge.Surge(app_id="shop")

    @client.create_function(fn_id="welcome", trigger="app/user.signup")
    async def welcome(ctx: surge.Context) -> str:
        return await ctx.step.run("render", render_email, ctx.event.data["user_id"])
"""

from __future__ import annotations

from surge.core.version import VERSION
from surge.sdk import *  # noqa: F403  (the SDK is the package's public API)
from surge.sdk import __all__ as _sdk_names

__version__ = VERSION
__all__ = sorted([*_sdk_names, "__version__"])
