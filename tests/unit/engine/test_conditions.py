"""`Conditions`: costly trigger conditions run in a child process with a deadline."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from surge.core.functions import EventTrigger, FunctionConfig
from surge.engine.conditions import INLINE_BUDGET, Conditions
from surge.engine.registry import Snapshot
from surge.engine.triggers import TriggerIndex

NESTED = "event.data.l.all(x, event.data.l.all(y, x + y >= 0))"


def function(slug: str, expression: str | None) -> FunctionConfig:
    trigger = EventTrigger(event="shop/order", expression=expression)
    return FunctionConfig(
        id=slug, name=slug, triggers=(trigger,), url="http://app.test/api", retries=0, raw={}
    )


def event(**data: Any) -> dict[str, Any]:
    return {"name": "shop/order", "data": data, "id": "e1", "user": {}, "ts": 1}


def big(**data: Any) -> dict[str, Any]:
    """An event large enough that any condition on it runs in the child process."""
    return event(pad="x" * INLINE_BUDGET, **data)


@pytest.fixture
async def conditions() -> AsyncIterator[Conditions]:
    conditions = Conditions(timeout=0.5)
    yield conditions
    await conditions.close()


async def test_small_events_are_decided_inline_as_the_index_decides(
    conditions: Conditions,
) -> None:
    index = TriggerIndex(
        [function("vip", "event.data.vip == true"), function("all", None), function("no", "1 == 2")]
    )
    events = [event(vip=True), event(vip=False)]

    matched = await conditions.match(index, events)

    assert [[f.id for f in m] for m in matched] == [["vip", "all"], ["all"]]
    assert [[f.id for f in m] for m in matched] == [[f.id for f in index.match(e)] for e in events]


async def test_a_large_event_is_decided_in_the_child_with_the_same_answer(
    conditions: Conditions,
) -> None:
    index = TriggerIndex(
        [function("vip", "event.data.vip == true"), function("sum", "event.data.l.all(x, x > 0)")]
    )
    events = [big(vip=True, l=[1, 2]), big(vip=False, l=[0])]

    matched = await conditions.match(index, events)

    assert [[f.id for f in m] for m in matched] == [["vip", "sum"], []]
    assert conditions.timeouts == 0


async def test_a_condition_past_its_deadline_does_not_hold_and_the_next_one_is_decided(
    conditions: Conditions, caplog: pytest.LogCaptureFixture
) -> None:
    index = TriggerIndex([function("slow", NESTED), function("plain", "event.data.ok == true")])
    # 3,000 items: about 9 million steps, far past half a second.
    slow = big(l=list(range(3000)), ok=True)

    [first] = await conditions.match(index, [slow])
    [second] = await conditions.match(index, [big(l=[1], ok=True)])

    assert [f.id for f in first] == ["plain"]
    assert [f.id for f in second] == ["slow", "plain"]
    assert conditions.timeouts == 1
    assert "ran out of time" in caplog.text


async def test_a_run_s_events_are_matched_with_the_same_deadline(conditions: Conditions) -> None:
    finished = FunctionConfig(
        id="watch",
        name="watch",
        triggers=(EventTrigger(event="inngest/function.finished", expression=NESTED),),
        url="http://app.test/api",
        retries=0,
        raw={},
    )
    snapshot = Snapshot(version=3, functions={"watch": finished}, index=TriggerIndex([finished]))
    events = [
        {
            "name": "inngest/function.finished",
            "id": "r1",
            "data": {"l": list(range(3000)), "pad": "x" * INLINE_BUDGET},
        },
        {"name": "inngest/function.finished", "id": "r2", "data": {"l": [1], "pad": "x" * 10}},
    ]

    slow, quick = await conditions.entries(snapshot, events, now=1_700_000_000_000)

    assert slow.runs == [] and conditions.timeouts == 1  # evaluated apart, and gave up
    assert [r.function_id for r in quick.runs] == ["watch"]
    assert quick.event.payload["id"] == "r2" and quick.event.payload["user"] == {}
