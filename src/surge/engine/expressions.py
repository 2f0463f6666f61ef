"""CEL expressions used by triggers, cancellation, flow-control keys and ``step.waitForEvent``.

Expressions compile once (cached by source text). Evaluation never raises: an expression
that reads a missing key, mixes types or otherwise fails counts as "does not match", as in the
Inngest server.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import cel

from surge.core.errors import InvalidInput

__all__ = ["Expression", "compile_expression"]

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
