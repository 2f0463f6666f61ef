from __future__ import annotations

from typing import Any

import pytest

from surge.core.errors import InvalidInput
from surge.engine.expressions import check_expression, compile_expression

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


@pytest.mark.parametrize(
    "src",
    [
        "event.data.items.exists(i, i.tags.exists(t, t == 'vip'))",
        "event.data.list.all(x, event.data.list.all(y, x + y >= 0))",
        "event.data.a.map(x, x.filter(y, y > 1))",
        "event.data.a.all(x, (event.data.b.exists( y , y == x)))",
    ],
)
def test_a_comprehension_inside_another_is_refused_at_registration(src: str) -> None:
    compile_expression(src)  # it is valid CEL

    with pytest.raises(InvalidInput, match="inside another comprehension"):
        check_expression(src)


@pytest.mark.parametrize(
    "src",
    [
        "event.data.items.exists(i, i.vip) && event.data.tags.all(t, t != 'x')",
        "event.data.note == 'a.all(x, x.exists(y, y))'",
        "event.data.note == r'x.all(' && event.data.n.exists(x, x > 1)",
        "event.data.all == 1 && size(event.data.items) > 2",
        "event.data.items.exists(i, i.name.startsWith('(a'))",
    ],
)
def test_comprehensions_side_by_side_and_lookalikes_in_strings_are_fine(src: str) -> None:
    assert check_expression(src).source == src


def test_too_many_comprehensions_or_characters_are_refused() -> None:
    many = " && ".join(f"event.data.l{i}.exists(x, x > {i})" for i in range(9))
    with pytest.raises(InvalidInput, match="more than 8 comprehensions"):
        check_expression(many)
    long = " || ".join(f"event.data.n == {i}" for i in range(300))
    assert len(long) > 4096
    with pytest.raises(InvalidInput, match=r"characters long \(the limit is 4096\)"):
        check_expression(long)
