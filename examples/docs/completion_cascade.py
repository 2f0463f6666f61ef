from __future__ import annotations

from chained_fanout import client
from chained_fanout import functions as order_functions
from stand_ins import erp

import surge


# Six months later: one more reaction to a confirmed order. Nothing else changes.
@client.create_function(fn_id="sync-to-erp", trigger="order/confirmed", retries=10)
async def sync_to_erp(ctx: surge.Context) -> dict[str, str]:
    return await ctx.step.run("sync-order", erp.sync_order, ctx.event.data["id"])


functions = [*order_functions, sync_to_erp]
app = surge.asgi_app(client, functions)
