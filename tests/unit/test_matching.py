"""The pause index: which equality a wait's expression is indexed under."""

from __future__ import annotations

import pytest

from surge.core.matching import equality_index, match_key, value_at

TRIGGER = {"name": "order.created", "data": {"userId": "u-1", "n": 3, "obj": {"a": 1}}}


@pytest.mark.parametrize(
    ("expression", "path", "value"),
    [
        ("event.data.userId == async.data.userId", "data.userId", "u-1"),
        ("async.data.userId == event.data.userId", "data.userId", "u-1"),
        ("(async.data.who == event.data.userId)", "data.who", "u-1"),
        ("async.data.kind == 'refund' && async.data.n > 2", "data.kind", "refund"),
        ("async.data.count == 3 && event.data.n == 3", "data.count", 3),
        ("async.data.ok == true", "data.ok", True),
        ("async.data.amount > 10 && async.data.order == event.data.n", "data.order", 3),
    ],
)
def test_an_equality_with_an_async_path_is_indexed(
    expression: str, path: str, value: object
) -> None:
    assert equality_index(expression, TRIGGER) == (path, match_key(path, value))


@pytest.mark.parametrize(
    "expression",
    [
        None,
        "",
        "async.data.n > 2",
        "async.data.a == 1 || async.data.b == 2",  # no one value is required
        "event.data.userId == event.data.userId",  # nothing about the candidate
        "async.data.userId != event.data.userId",
        "async.data.x == event.data.missing",  # the trigger lacks it
        "async.data.x == event.data.obj",  # not a scalar
        "size(async.data.items) == 2",
        "async.data.name == 'it''s'",
    ],
)
def test_other_expressions_are_not_indexed(expression: str | None) -> None:
    assert equality_index(expression, TRIGGER) is None


def test_numbers_equal_in_cel_share_a_key_and_other_types_do_not() -> None:
    assert match_key("data.n", 1) == match_key("data.n", 1.0)
    assert match_key("data.n", 1) != match_key("data.n", "1")
    assert match_key("data.n", 1) != match_key("data.m", 1)


def test_value_at_reads_dotted_paths() -> None:
    assert value_at(TRIGGER, "data.obj.a") == 1
    assert value_at(TRIGGER, "data.nope.a") is None
    assert value_at({"data": [1]}, "data.0") is None
