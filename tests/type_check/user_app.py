"""A user's app, checked with ``mypy --strict`` by test_mypy.py: types flow through the SDK."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, assert_type

import pydantic

import surge

client = surge.Surge(app_id="typed", mode="dev")


class Signup(pydantic.BaseModel):
    user_id: str


SignupEvent = surge.EventType("app/user.signup", Signup)


@dataclass(frozen=True)
class Profile:
    user_id: str
    email: str


async def load_profile(user_id: str, *, verbose: bool = False) -> Profile:
    return Profile(user_id=user_id, email=f"{user_id}@example.com")


def score(profile: Profile) -> int:
    return len(profile.email)


@client.create_function(fn_id="welcome", trigger=SignupEvent, retries=2)
async def welcome(ctx: surge.Context[Signup]) -> dict[str, int]:
    assert_type(ctx.event.data, Signup)
    profile = await ctx.step.run("load", load_profile, ctx.event.data.user_id, verbose=True)
    assert_type(profile, Profile)
    points = await ctx.step.run("score", score, profile)
    assert_type(points, int)
    a, b = await ctx.step.parallel(
        lambda: ctx.step.run("p1", load_profile, "x"), lambda: ctx.step.run("p2", score, profile)
    )
    assert_type(a, Profile)
    assert_type(b, int)
    reply = await ctx.step.wait_for_event("reply", SignupEvent, timeout="1h")
    if reply is not None:
        assert_type(reply.data, Signup)
    ids = await ctx.step.send_event("notify", SignupEvent(Signup(user_id="u2")))
    assert_type(ids, list[str])
    await ctx.step.sleep("nap", 5)
    return {"points": points}


assert_type(welcome, surge.Function[dict[str, int]])


@client.create_function(fn_id="caller", trigger="app/call")
def caller(ctx: surge.SyncContext) -> str:
    result = ctx.step.invoke("call-welcome", welcome, data={"user_id": "u1"})
    assert_type(result, dict[str, int])
    data: dict[str, Any] = ctx.event.data
    text = ctx.step.run("render", lambda: f"{result['points']} {data}")
    assert_type(text, str)
    return text


assert_type(caller, surge.Function[str])


async def send() -> list[str]:
    return await client.send([SignupEvent(Signup(user_id="u1")), {"name": "app/other"}])
