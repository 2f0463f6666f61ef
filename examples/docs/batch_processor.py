from __future__ import annotations

from typing import Any

from stand_ins import db

import surge

client = surge.Surge(app_id="batch")


@client.create_function(
    fn_id="process-pending-items",
    trigger=[surge.TriggerCron(cron="*/30 * * * *"), "item/batch.requested"],
)
async def process_pending_items(ctx: surge.Context) -> dict[str, int]:
    items = await ctx.step.run("load-items", db.items_to_process)
    await ctx.step.send_event(
        "fan-out",
        [surge.Event(name="item/process.requested", data={"item_id": i["id"]}) for i in items],
    )
    return {"items": len(items)}


@client.create_function(
    fn_id="process-item", trigger="item/process.requested", concurrency=20, retries=3
)
async def process_item(ctx: surge.Context) -> dict[str, Any]:
    item_id = ctx.event.data["item_id"]
    item = await ctx.step.run("load-item", db.load_item, item_id)
    result = {"item_id": item_id, "score": item["size"] * 10}
    await ctx.step.run("save-result", db.save_result, item_id, result)
    return result


functions = [process_pending_items, process_item]
app = surge.asgi_app(client, functions)
