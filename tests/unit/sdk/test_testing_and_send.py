"""`surge.testing.run` (in process, no server), event chunking, and typed round trips."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
import pydantic

import surge
import surge.testing
from surge.sdk._send import chunks, prepare_events

client = surge.Surge(app_id="t", mode="dev")


@dataclass(frozen=True)
class User:
    id: str
    email: str


class Order(pydantic.BaseModel):
    order_id: str
    cents: int


@client.create_function(fn_id="onboard", trigger="t/signup", retries=1)
async def onboard(ctx: surge.Context) -> dict[str, object]:
    async def fetch() -> User:
        return User(id="u1", email="real@example.com")

    user = await ctx.step.run("fetch-user", fetch)
    await ctx.step.sleep("wait-a-day", "1d")
    reply = await ctx.step.wait_for_event("reply", "t/reply", timeout="7d")
    ids = await ctx.step.send_event("notify", {"name": "t/notified", "data": {"to": user.email}})
    return {"email": user.email, "replied": reply is not None, "sent": ids}


@client.create_function(fn_id="sync-flaky", trigger="t/x", retries=2)
def sync_flaky(ctx: surge.SyncContext) -> int:
    calls: list[int] = []

    def attempt() -> int:
        calls.append(1)
        if ctx.attempt < 2:
            raise RuntimeError("not yet")
        return ctx.attempt

    return ctx.step.run("attempt", attempt)


def test_run_in_process_with_a_mocked_step_and_instant_sleep() -> None:
    result = surge.testing.run(
        onboard,
        {"name": "t/signup", "data": {}},
        steps={"fetch-user": User(id="u9", email="mock@example.com")},
        waits={"reply": {"name": "t/reply", "data": {"ok": True}}},
    )
    assert result.status == "Completed"
    assert result.output == {"email": "mock@example.com", "replied": True, "sent": ["test-event-1"]}
    assert result.step_ids == ["wait-a-day", "reply", "notify"]
    assert result.sent_events[0]["data"] == {"to": "mock@example.com"}


def test_run_in_process_retries_a_sync_step() -> None:
    result = surge.testing.run(sync_flaky, {"name": "t/x"})
    assert result.status == "Completed" and result.output == 2
    assert [s.op for s in result.steps] == ["StepRun"]


def test_a_step_mocked_as_failed_raises_step_error() -> None:
    result = surge.testing.run(
        onboard, {"name": "t/signup"}, steps={"fetch-user": surge.StepError("down", name="IOError")}
    )
    assert result.status == "Failed" and result.error["code"] == "step_errored"


def test_large_sends_are_split_under_the_server_limits() -> None:
    events = prepare_events([{"name": "t/e", "data": {"i": i}} for i in range(12_001)], {})
    parts = list(chunks(events))
    assert [count for _, count in parts] == [5000, 5000, 2001]
    assert sum(len(orjson.loads(body)) for body, _ in parts) == 12_001


def test_typed_event_validates_and_serializes_models() -> None:
    placed = surge.EventType("t/order.placed", Order)
    event = placed({"order_id": "o1", "cents": "250"})
    assert event.data == Order(order_id="o1", cents=250)
    assert event.to_wire()["data"] == {"order_id": "o1", "cents": 250}
    try:
        placed({"order_id": "o1"})
    except surge.EventDataInvalid as exc:
        assert "cents" in str(exc)
    else:
        raise AssertionError("invalid data was accepted")
