"""CEL expressions used by triggers, cancellation, flow-control keys and ``step.waitForEvent``.

Expressions compile once (cached by source text). Evaluation never raises: an expression
that reads a missing key, mixes types or otherwise fails counts as "does not match", as in the
Inngest server.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterator
from typing import Any

import cel

from surge.core.errors import InvalidInput
from surge.core.limits import MAX_COMPREHENSIONS, MAX_EXPRESSION_LENGTH

__all__ = ["Expression", "check_expression", "compile_expression", "cost_problem"]

logger = logging.getLogger(__name__)


class Expression:
    """A compiled CEL expression.

    Attributes:
        source: The expression text as given.
    """

    __slots__ = ("_program", "source")

    def __init__(self, source: str, program: Any) -> None:
        self.source = source
        self._program = program

    def evaluate(self, variables: dict[str, Any]) -> Any:
        """Evaluate with `variables`, raising whatever the CEL runtime raises."""
        return self._program.execute(variables)

    def matches(self, variables: dict[str, Any]) -> bool:
        """Return True only if the expression evaluates to exactly ``True``.

        Missing keys, undefined variables, type errors and any other evaluation failure
        give False.

        Args:
            variables: Top-level CEL variables, e.g. ``{"event": event}``.
        """
        try:
            result = self._program.execute(variables)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # KeyError, TypeError, RuntimeError, or a Rust panic
            logger.debug(
                "expression evaluation failed",
                extra={"expression": self.source, "error": repr(exc)},
            )
            return False
        return result is True

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"


@functools.lru_cache(maxsize=4096)
def compile_expression(src: str) -> Expression:
    """Compile a CEL expression, caching by source text.

    Args:
        src: The CEL source, e.g. ``"event.data.user_id == async.data.user_id"``.

    Returns:
        The compiled `Expression`.

    Raises:
        InvalidInput: The expression does not parse; the message carries CEL's own.
    """
    if not src.strip():
        raise InvalidInput("invalid expression: empty")
    try:
        program = cel.compile(src)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # ValueError on syntax errors; a Rust panic is a BaseException
        raise InvalidInput(f"invalid expression {src!r}: {exc}") from None
    return Expression(src, program)


_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_expression(src: str) -> Expression:
    """Compile `src` for a function being registered, refusing (`InvalidInput`) what would
    cost too much to evaluate on every event: see `cost_problem`."""
    problem = cost_problem(src)
    if problem is not None:
        raise InvalidInput(f"expression refused: {problem}")
    return compile_expression(src)


def cost_problem(src: str) -> str | None:
    """Why evaluating `src` could cost more than the server allows per event, or `None`.

    Evaluation cost grows with the expression's length, and with the length of an event's
    lists once for each comprehension macro it runs; a macro inside another's body
    multiplies the two. So an expression may be at most `MAX_EXPRESSION_LENGTH` characters,
    with at most `MAX_COMPREHENSIONS` macros, none nested in another.
    """
    if len(src) > MAX_EXPRESSION_LENGTH:
        return f"{len(src)} characters long (the limit is {MAX_EXPRESSION_LENGTH})"
    macros = 0
    # One entry per open parenthesis: whether it opened a comprehension macro's arguments.
    frames: list[bool] = []
    for kind, text in _tokens(src):
        if kind == "macro":
            if any(frames):
                return (
                    f"{text}() inside another comprehension: its cost would grow with the"
                    " square of an event's lists"
                )
            macros += 1
            if macros > MAX_COMPREHENSIONS:
                return f"more than {MAX_COMPREHENSIONS} comprehensions (all, exists, map, ...)"
            frames.append(True)
        elif text == "(":
            frames.append(False)
        elif text == ")" and frames:
            frames.pop()
    return None


def _tokens(src: str) -> Iterator[tuple[str, str]]:
    """`("macro", name)` for a macro call's name and its "(", `("punct", c)` for the other
    parentheses; string literals are skipped."""
    i, n = 0, len(src)
    previous = ""
    while i < n:
        c = src[i]
        if c in "\"'":
            i = _end_of_string(src, i)
            previous = "'"
            continue
        match = _IDENTIFIER.match(src, i)
        if match is not None:
            name, i = match.group(), match.end()
            if name in ("r", "R", "b", "B", "rb", "br", "RB", "BR") and i < n and src[i] in "\"'":
                i = _end_of_string(src, i, raw="r" in name.lower())
                previous = "'"
                continue
            rest = src[i:].lstrip()
            if previous == "." and name in _MACROS and rest.startswith("("):
                i = n - len(rest) + 1
                yield "macro", name
                previous = "("
                continue
            previous = name
            continue
        if c in "()":
            yield "punct", c
        if not c.isspace():
            previous = c
        i += 1


def _end_of_string(src: str, start: int, *, raw: bool = False) -> int:
    """The index just past the string literal that opens at `start`."""
    quote = src[start : start + 3] if src[start : start + 3] in ('"""', "'''") else src[start]
    i = start + len(quote)
    while i < len(src):
        if not raw and src[i] == "\\":
            i += 2
            continue
        if src.startswith(quote, i):
            return i + len(quote)
        i += 1
    return len(src)
