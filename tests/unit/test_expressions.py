from __future__ import annotations

from typing import Any

import pytest

from surge.core.errors import InvalidInput
from surge.engine.expressions import compile_expression

EVENT = {"name": "app/order", "data": {"amount": 150, "user": {"id": "u1"}, "tags": ["a"]}}


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        ("event.data.amount > 100", True),
        ("event.data.amount > 200", False),
        ("event.data.user.id == 'u1'", True),
        ("event.name == 'app/order' && 'a' in event.data.tags", True),
        ("has(event.data.missing)", False),
        ("event.data.missing == 1", False),  # missing key
        ("event.data.user.id > 1", False),  # type error
        ("nope == 1", False),  # undefined variable
        ("event.data.amount", False),  # not a bool
        ("'true'", False),  # a string, not True
        ("1 / 0 == 1", False),
    ],
)
def test_matches(src: str, expected: bool) -> None:
    assert compile_expression(src).matches({"event": EVENT}) is expected


def test_matches_with_two_variables() -> None:
    expr = compile_expression("event.data.user.id == async.data.user_id")
    variables: dict[str, Any] = {"event": EVENT, "async": {"data": {"user_id": "u1"}}}
    assert expr.matches(variables) is True
    variables["async"] = {"data": {"user_id": "u2"}}
    assert expr.matches(variables) is False


def test_evaluate_returns_the_value() -> None:
    assert compile_expression("event.data.user.id").evaluate({"event": EVENT}) == "u1"


@pytest.mark.parametrize("src", ["event.data ==", "a b", "((", "", "   "])
def test_syntax_errors_raise_invalid_input(src: str) -> None:
    with pytest.raises(InvalidInput, match="invalid expression"):
        compile_expression(src)


def test_compile_is_cached() -> None:
    assert compile_expression("event.data.x == 1") is compile_expression("event.data.x == 1")
    assert compile_expression("event.data.x == 1").source == "event.data.x == 1"
