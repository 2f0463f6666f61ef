"""The index of pauses: how an incoming event finds the runs waiting for it without a scan.

A pause (a `step.waitForEvent`, an invoke, a `cancelOn`) waits for an event name and an
optional CEL expression over ``event`` (the run's trigger) and ``async`` (the candidate).
Most expressions are equalities such as ``event.data.userId == async.data.userId``: once the
run's trigger is known, the candidate must have one exact value at one path. Such a pause is
stored under a match key (`match_key` of that path and value); an incoming event computes
the keys of the paths pauses use for its name and looks them up. The expression is still
evaluated on each candidate found, so the index only narrows, and never decides alone.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from . import codec

__all__ = ["equality_index", "match_key", "value_at"]

_PATH = r"(?:\.[A-Za-z_][A-Za-z0-9_]*)+"
_SIDE = re.compile(rf"^\s*(event|async)({_PATH})\s*$")
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?$")
_NO_LITERAL = object()


def equality_index(expression: str | None, trigger: dict[str, Any]) -> tuple[str, str] | None:
    """The `(path, match key)` a pause with `expression` is indexed under, for a run whose
    trigger event is `trigger`: from the first conjunct that equates an ``async`` path with
    an ``event`` path (whose value `trigger` has) or with a literal. `None` when there is
    none: the pause is then evaluated against every event of its name."""
    if not expression:
        return None
    for conjunct in _conjuncts(expression):
        sides = _split_equality(conjunct)
        if sides is None:
            continue
        left, right = sides
        for candidate, other in ((left, right), (right, left)):
            found = _SIDE.match(candidate)
            if found is None or found.group(1) != "async":
                continue
            path = found.group(2)[1:]
            value = _value_of(other, trigger)
            if value is not _NO_LITERAL:
                return path, match_key(path, value)
    return None


def match_key(path: str, value: Any) -> str:
    """The key of a candidate event whose value at `path` is `value`. Numbers that are equal
    in CEL (``1`` and ``1.0``) share a key."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    digest = hashlib.sha256(codec.dumps(value)).hexdigest()[:24]
    return f"{path}={digest}"


def value_at(payload: Any, path: str) -> Any:
    """The value at dotted `path` in `payload`, or `None` when any part is missing."""
    value = payload
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _value_of(side: str, trigger: dict[str, Any]) -> Any:
    """The value an equality's other side has for this run: an ``event`` path read from its
    trigger, or a literal; `_NO_LITERAL` when it is neither (or the trigger lacks it)."""
    found = _SIDE.match(side)
    if found is not None:
        if found.group(1) != "event":
            return _NO_LITERAL
        path = found.group(2)[1:]
        value = value_at(trigger, path)
        return _NO_LITERAL if value is None or isinstance(value, (dict, list)) else value
    text = side.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'" and "\\" not in text:
        inner = text[1:-1]
        return _NO_LITERAL if text[0] in inner else inner
    if _NUMBER.match(text):
        return float(text) if any(c in text for c in ".eE") else int(text)
    if text in ("true", "false"):
        return text == "true"
    return _NO_LITERAL


def _conjuncts(expression: str) -> list[str]:
    """The parts of `expression` joined by a top-level ``&&`` (one part when there is none);
    parentheses around the whole are dropped."""
    text = expression.strip()
    while text.startswith("(") and _closing(text, 0) == len(text) - 1:
        text = text[1:-1].strip()
    parts: list[str] = []
    depth, start, i = 0, 0, 0
    while i < len(text):
        c = text[i]
        if c in "\"'":
            end = text.find(c, i + 1)
            if end < 0:
                return [text]
            i = end + 1
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0 and text.startswith("&&", i):
            parts.append(text[start:i])
            start = i + 2
            i += 2
            continue
        elif depth == 0 and text.startswith("||", i):
            return []  # a disjunction: no single value is required
        i += 1
    parts.append(text[start:])
    return [part.strip() for part in parts]


def _closing(text: str, start: int) -> int:
    """The index of the parenthesis closing the one at `start`, or -1."""
    depth = 0
    i = start
    while i < len(text):
        c = text[i]
        if c in "\"'":
            end = text.find(c, i + 1)
            if end < 0:
                return -1
            i = end + 1
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _split_equality(conjunct: str) -> tuple[str, str] | None:
    """The two sides of a conjunct ``a == b`` (outside string literals), or `None`."""
    text = conjunct.strip()
    while text.startswith("(") and _closing(text, 0) == len(text) - 1:
        text = text[1:-1].strip()
    i = 0
    found = -1
    while i < len(text):
        c = text[i]
        if c in "\"'":
            end = text.find(c, i + 1)
            if end < 0:
                return None
            i = end + 1
            continue
        if text.startswith("==", i):
            if found >= 0:
                return None
            found = i
            i += 2
            continue
        if c in "!<>|&?(":
            return None
        i += 1
    if found < 0:
        return None
    return text[:found], text[found + 2 :]
