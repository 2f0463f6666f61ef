"""The GraphQL mutations (`schema.graphql`): the same engine commands as REST v1."""

from __future__ import annotations

import asyncio
from typing import Any

from graphql import GraphQLResolveInfo

from surge.core import codec
from surge.core.errors import InvalidInput, NotFound

from .catalog import app_object, function_object, function_run
from .resolvers import Resolver, engine_of


async def cancel_run(_: Any, info: GraphQLResolveInfo, runID: str) -> dict[str, Any]:
    engine = engine_of(info)
    run = await engine.cancel_run(runID)
    status = await engine.status()
    functions = {f.id: f for f in status.functions}
    apps = {app.id: app for app in status.apps}
    return function_run(run, functions, apps, status.functions)


async def invoke_function(
    _: Any,
    info: GraphQLResolveInfo,
    functionSlug: str,
    data: Any = None,
    user: Any = None,
) -> bool:
    for name, value in (("data", data), ("user", user)):
        if value is not None and not isinstance(value, dict):
            raise InvalidInput(f"{name} must be a JSON object, got {type(value).__name__}")
    await engine_of(info).invoke_function(functionSlug, data=data or {}, user=user)
    return True


async def rerun(
    _: Any,
    info: GraphQLResolveInfo,
    runID: str,
    fromStep: dict[str, Any] | None = None,
) -> str:
    """Rerun from the start, or from ``fromStep.stepID`` with its ``input`` (a JSON array of
    the step's arguments, as text) edited if given."""
    step, step_input = None, None
    if fromStep is not None:
        step = str(fromStep["stepID"])
        raw = fromStep.get("input")
        if raw is not None:
            try:
                step_input = codec.loads(raw)
            except ValueError:
                raise InvalidInput("fromStep.input must be JSON text: an array") from None
    return await engine_of(info).rerun(runID, from_step=step, step_input=step_input)


async def create_app(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    engine = engine_of(info)
    app = await engine.add_app(str(input["url"]))
    return app_object(app, (await engine.status()).functions)


async def update_app(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """Move app `input.id` to `input.url`: the SDK there must sync that app."""
    engine = engine_of(info)
    app_id = str(input["id"])
    if not any(app.id == app_id for app in (await engine.status()).apps):
        raise NotFound(f"no app {app_id!r}")
    app = await engine.add_app(str(input["url"]))
    if app.id != app_id:
        raise InvalidInput(f"the SDK at {input['url']} serves app {app.id!r}, not {app_id!r}")
    return app_object(app, (await engine.status()).functions)


async def delete_app(_: Any, info: GraphQLResolveInfo, id: str) -> str:
    if not await engine_of(info).delete_app(id):
        raise NotFound(f"no app {id!r}")
    return id


async def delete_app_by_name(_: Any, info: GraphQLResolveInfo, name: str) -> bool:
    """Forget the app named `name` (its id: Surge names apps by their SDK app id)."""
    return await engine_of(info).delete_app(name)


async def pause_function(
    _: Any, info: GraphQLResolveInfo, functionSlug: str, cancelRunning: bool | None = None
) -> dict[str, Any]:
    engine = engine_of(info)
    await engine.suspend_function(functionSlug, cancel_running=bool(cancelRunning))
    return await _function(info, functionSlug)


async def unpause_function(_: Any, info: GraphQLResolveInfo, functionSlug: str) -> dict[str, Any]:
    await engine_of(info).resume_function(functionSlug)
    return await _function(info, functionSlug)


async def _function(info: GraphQLResolveInfo, slug: str) -> dict[str, Any]:
    status = await engine_of(info).status()
    [record] = [f for f in status.functions if f.id == slug]
    fresh = asyncio.get_running_loop().create_future()
    fresh.set_result(status)
    info.context["status"] = fresh  # as read after the act, for the function's isPaused
    return function_object(record, {app.id: app for app in status.apps}, status.functions)


MUTATION: dict[str, Resolver] = {
    "pauseFunction": pause_function,
    "unpauseFunction": unpause_function,
    "createApp": create_app,
    "updateApp": update_app,
    "deleteApp": delete_app,
    "deleteAppByName": delete_app_by_name,
    "cancelRun": cancel_run,
    "invokeFunction": invoke_function,
    "rerun": rerun,
}
