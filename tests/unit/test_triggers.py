from __future__ import annotations

from typing import Any

from surge.core.functions import CronTrigger, EventTrigger, FunctionConfig
from surge.engine.triggers import TriggerIndex


def make(fn_id: str, *triggers: EventTrigger | CronTrigger) -> FunctionConfig:
    return FunctionConfig(
        id=fn_id, name=fn_id, triggers=triggers, url="http://x/api", retries=4, raw={}
    )


def event(name: str, **data: Any) -> dict[str, Any]:
    return {"name": name, "data": data, "ts": 1, "user": {}}


def ids(functions: list[FunctionConfig]) -> list[str]:
    return [f.id for f in functions]


def test_exact_match() -> None:
    index = TriggerIndex(
        [make("a", EventTrigger(event="app/x")), make("b", EventTrigger(event="app/y"))]
    )
    assert ids(index.match(event("app/x"))) == ["a"]
    assert ids(index.match(event("app/y"))) == ["b"]
    assert index.match(event("app/z")) == []
    assert index.match(event("app/x.more")) == []


def test_wildcard_matches_names_under_prefix_only() -> None:
    index = TriggerIndex([make("w", EventTrigger(event="app/*"))])
    assert ids(index.match(event("app/x"))) == ["w"]
    assert ids(index.match(event("app/x/y"))) == ["w"]
    assert index.match(event("app")) == []
    assert index.match(event("application/x")) == []
    assert index.match(event("other/x")) == []


def test_expression_filters() -> None:
    index = TriggerIndex(
        [make("big", EventTrigger(event="order", expression="event.data.amount > 100"))]
    )
    assert ids(index.match(event("order", amount=150))) == ["big"]
    assert index.match(event("order", amount=50)) == []
    assert index.match(event("order")) == []  # missing key is a non-match, not an error


def test_function_matched_once_even_with_several_matching_triggers() -> None:
    fn = make(
        "multi",
        EventTrigger(event="app/x"),
        EventTrigger(event="app/*"),
        EventTrigger(event="app/x"),
    )
    index = TriggerIndex([fn])
    assert ids(index.match(event("app/x"))) == ["multi"]


def test_second_trigger_matches_when_first_expression_fails() -> None:
    fn = make(
        "f",
        EventTrigger(event="app/x", expression="event.data.n == 1"),
        EventTrigger(event="app/*", expression="event.data.n == 2"),
    )
    index = TriggerIndex([fn])
    assert ids(index.match(event("app/x", n=2))) == ["f"]
    assert index.match(event("app/x", n=3)) == []


def test_results_follow_index_order() -> None:
    index = TriggerIndex(
        [make("first", EventTrigger(event="app/*")), make("second", EventTrigger(event="app/x"))]
    )
    assert ids(index.match(event("app/x"))) == ["first", "second"]


def test_on_failure_handler_matches_internal_event() -> None:
    handler = make(
        "app-fn-failure",
        EventTrigger(
            event="inngest/function.failed", expression="event.data.function_id == 'app-fn'"
        ),
    )
    index = TriggerIndex([handler])
    failed = event("inngest/function.failed", function_id="app-fn")
    assert ids(index.match(failed)) == ["app-fn-failure"]
    assert index.match(event("inngest/function.failed", function_id="other")) == []


def test_uncompilable_expression_never_matches() -> None:
    index = TriggerIndex([make("bad", EventTrigger(event="a", expression="event.data =="))])
    assert index.match(event("a")) == []


def test_cron_functions_and_by_id() -> None:
    cron = CronTrigger(cron="* * * * *")
    a = make("a", cron, EventTrigger(event="x"))
    b = make("b", EventTrigger(event="y"))
    index = TriggerIndex([a, b])
    assert index.cron_functions() == [(a, cron)]
    assert index.by_id("b") is b
    assert index.by_id("zzz") is None
    assert len(index) == 2
    assert index.match({"data": {}}) == []
