from __future__ import annotations

from typing import Any

import orjson
import pytest

from surge.core.errors import InvalidInput
from surge.core.events import (
    FUNCTION_CANCELLED,
    FUNCTION_FAILED,
    FUNCTION_FINISHED,
    FUNCTION_INVOKED,
    SCHEDULED_TIMER,
    internal_event,
    parse_events,
)
from surge.core.limits import (
    ABSOLUTE_MAX_EVENT_BYTES,
    DEFAULT_MAX_EVENT_BYTES,
    MAX_EVENTS_PER_REQUEST,
    MAX_NESTING,
)

NOW = 1_714_554_000_000


def parse(value: Any, *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> list[dict[str, Any]]:
    return parse_events(orjson.dumps(value), max_event_bytes=max_event_bytes, now_ms=NOW)


def reject(value: Any, **kwargs: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        parse(value, **kwargs)
    return info.value


def test_single_object_is_normalized() -> None:
    [event] = parse({"name": "app/user.created", "data": {"id": 1}, "ts": 1_700_000_000_000})
    assert event == {
        "name": "app/user.created",
        "data": {"id": 1},
        "ts": 1_700_000_000_000,
        "user": {},
    }


def test_array_keeps_order_and_optional_fields() -> None:
    events = parse(
        [
            {"name": "a", "id": "idem-1", "v": "2024-01-01.1", "user": {"u": 1}},
            {"name": "b", "meta": {"x": 1}, "extra": True},
        ]
    )
    assert [e["name"] for e in events] == ["a", "b"]
    assert events[0]["id"] == "idem-1"
    assert events[0]["v"] == "2024-01-01.1"
    assert events[0]["user"] == {"u": 1}
    assert set(events[1]) == {"name", "data", "ts", "user"}


def test_defaults_data_user_and_ts() -> None:
    [event] = parse({"name": "a", "data": None, "ts": 0, "id": ""})
    assert event == {"name": "a", "data": {}, "ts": NOW, "user": {}}


def test_inngest_key_removed_from_data() -> None:
    [event] = parse({"name": "a", "data": {"_inngest": {"fn_id": "x"}, "keep": 1}})
    assert event["data"] == {"keep": 1}


def test_integral_float_ts_accepted() -> None:
    [event] = parse({"name": "a", "ts": 1_700_000_000_000.0})
    assert event["ts"] == 1_700_000_000_000
    assert isinstance(event["ts"], int)


@pytest.mark.parametrize(
    ("body", "text"),
    [(b"{not json", "malformed JSON"), (b"", "malformed JSON"), (b'"str"', "event object")],
)
def test_bad_bodies(body: bytes, text: str) -> None:
    with pytest.raises(InvalidInput, match=text) as info:
        parse_events(body, max_event_bytes=DEFAULT_MAX_EVENT_BYTES, now_ms=NOW)
    assert info.value.status == 400


def test_empty_array_rejected() -> None:
    err = reject([])
    assert "no events" in err.message
    assert err.field == "events"


def test_exactly_5000_events_ok_and_5001_rejected() -> None:
    assert len(parse([{"name": "a"}] * MAX_EVENTS_PER_REQUEST)) == 5000
    err = reject([{"name": "a"}] * (MAX_EVENTS_PER_REQUEST + 1))
    assert "5001" in err.message
    assert "5000" in err.message
    assert err.status == 400


def test_element_not_an_object_names_index() -> None:
    err = reject([{"name": "a"}, "b"])
    assert err.field == "events[1]"
    assert err.message.startswith("events[1]: ")


@pytest.mark.parametrize(
    ("event", "text"),
    [
        ({}, "event name is required"),
        ({"name": ""}, "must not be empty"),
        ({"name": 5}, "must be a string"),
        ({"name": None}, "event name is required"),
    ],
)
def test_bad_names(event: dict[str, Any], text: str) -> None:
    err = reject([{"name": "ok"}, {"name": "ok"}, {"name": "ok"}, event])
    assert err.field == "events[3].name"
    assert text in err.message
    assert "events[3].name" in err.message


def test_single_object_field_path_has_no_prefix() -> None:
    err = reject({"name": ""})
    assert err.field == "name"
    assert err.message.startswith("name: ")


def test_name_length_boundary() -> None:
    assert parse({"name": "x" * 255})[0]["name"] == "x" * 255
    err = reject({"name": "x" * 256})
    assert err.field == "name"
    assert "256" in err.message
    assert "255" in err.message


@pytest.mark.parametrize(
    "name", ["inngest/function.failed", "INNGEST/x", "Inngest/scheduled.timer"]
)
def test_reserved_names(name: str) -> None:
    err = reject({"name": name})
    assert "event name is reserved for internal use" in err.message
    assert err.status == 400


def test_names_merely_containing_inngest_are_fine() -> None:
    assert parse({"name": "my-inngest/thing"})[0]["name"] == "my-inngest/thing"


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"name": "a", "data": []}, "events[0].data"),
        ({"name": "a", "data": "x"}, "events[0].data"),
        ({"name": "a", "user": 3}, "events[0].user"),
        ({"name": "a", "id": 3}, "events[0].id"),
        ({"name": "a", "v": 1}, "events[0].v"),
        ({"name": "a", "ts": "2024"}, "events[0].ts"),
        ({"name": "a", "ts": True}, "events[0].ts"),
        ({"name": "a", "ts": 1.5}, "events[0].ts"),
    ],
)
def test_bad_field_types(event: dict[str, Any], field: str) -> None:
    err = reject([event])
    assert err.field == field
    assert field in err.message


def test_ts_range_boundaries() -> None:
    low, high = 315_532_800_000, 4_102_444_800_000
    assert parse({"name": "a", "ts": low})[0]["ts"] == low
    assert parse({"name": "a", "ts": high})[0]["ts"] == high
    for bad in (low - 1, high + 1, -5):
        err = reject({"name": "a", "ts": bad})
        assert err.field == "ts"
        assert "1980" in err.message


def test_event_size_limit_is_413_at_the_boundary() -> None:
    base = {"name": "a", "data": {"s": ""}}
    overhead = len(orjson.dumps(base))
    exact = {"name": "a", "data": {"s": "x" * (1000 - overhead)}}
    assert len(orjson.dumps(exact)) == 1000
    assert parse([exact], max_event_bytes=1000)
    big = {"name": "a", "data": {"s": "x" * (1001 - overhead)}}
    err = reject([{"name": "ok"}, big], max_event_bytes=1000)
    assert err.status == 413
    assert err.field == "events[1]"
    assert "1001" in err.message
    assert "1000" in err.message


def nested(depth: int) -> Any:
    """An array holding an array ... `depth` levels deep."""
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_nesting_limit_counts_the_event_itself() -> None:
    # The event is level 1 and `data` level 2, so its value may nest MAX_NESTING - 2 deep.
    deepest = {"name": "a", "data": {"x": nested(MAX_NESTING - 2)}}
    assert parse(deepest)[0]["data"] == deepest["data"]
    err = reject([{"name": "ok"}, {"name": "a", "data": {"x": nested(MAX_NESTING - 1)}}])
    assert err.status == 400
    assert err.field == "events[1]"
    assert f"nest too deeply (the limit is {MAX_NESTING} levels" in err.message


@pytest.mark.parametrize("depth", [250, 260, 1000])
def test_nesting_the_encoder_cannot_handle_is_a_400(depth: int) -> None:
    body = b'{"name": "a", "user": {"x": ' + b"[" * depth + b"]" * depth + b"}}"
    with pytest.raises(InvalidInput) as info:
        parse_events(body, max_event_bytes=DEFAULT_MAX_EVENT_BYTES, now_ms=NOW)
    err = info.value
    assert err.status == 400
    assert "nest too deeply" in err.message


@pytest.mark.parametrize(
    ("event", "field", "text"),
    [
        ({"name": "a\x00b"}, "name", "event name must not contain a NUL character"),
        ({"name": "a", "id": "\x00"}, "id", "event id must not contain a NUL character"),
        ({"name": "a", "v": "1\x00"}, "v", "event version must not contain a NUL character"),
        ({"name": "a", "id": "i" * 256}, "id", "event id is too long: 256 characters"),
        ({"name": "a", "v": "v" * 256}, "v", "event version is too long: 256 characters"),
    ],
)
def test_identifiers_the_databases_cannot_store_are_refused(
    event: dict[str, Any], field: str, text: str
) -> None:
    err = reject(event)
    assert err.status == 400
    assert err.field == field
    assert text in err.message


def test_nul_inside_data_is_kept() -> None:
    # Stored as JSON text, where it is the escape \u0000: both databases keep it.
    assert parse({"name": "a", "data": {"s": "a\x00b"}})[0]["data"] == {"s": "a\x00b"}


def test_id_and_version_at_their_length_limit_are_kept() -> None:
    [event] = parse({"name": "a", "id": "i" * 255, "v": "v" * 255})
    assert (len(event["id"]), len(event["v"])) == (255, 255)


def test_event_size_limit_capped_at_absolute_max() -> None:
    big = {"name": "a", "data": {"s": "x" * ABSOLUTE_MAX_EVENT_BYTES}}
    err = reject(big, max_event_bytes=10 * ABSOLUTE_MAX_EVENT_BYTES)
    assert err.status == 413
    assert str(ABSOLUTE_MAX_EVENT_BYTES) in err.message


def test_internal_event() -> None:
    event = internal_event(FUNCTION_FINISHED, {"_inngest": {"status": "ok"}}, id="r1", ts=5)
    assert event == {
        "name": "inngest/function.finished",
        "data": {"_inngest": {"status": "ok"}},
        "id": "r1",
        "ts": 5,
        "user": {},
    }
    assert internal_event(FUNCTION_INVOKED, {}, id="x", ts=1, v="1")["v"] == "1"


def test_internal_event_names() -> None:
    assert FUNCTION_FAILED == "inngest/function.failed"
    assert FUNCTION_CANCELLED == "inngest/function.cancelled"
    assert FUNCTION_INVOKED == "inngest/function.invoked"
    assert SCHEDULED_TIMER == "inngest/scheduled.timer"
