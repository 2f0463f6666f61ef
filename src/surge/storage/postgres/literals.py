"""SQL literals: how parameters travel inside the ``EXECUTE`` statements of a batch.

A batch is sent as one simple query (several statements in one message), which carries no
out-of-band parameters, so each value is written as a literal: strings as escape strings
(``E'...'``, correct whatever ``standard_conforming_strings`` says), lists as array literals
inside one. The prepared statement each ``EXECUTE`` names gives every literal its type.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from surge.core.errors import StorageError

__all__ = ["array", "literal"]


def literal(value: Any) -> str:
    """`value` (`None`, a bool, an int, a str, or a list of str/int/None) as a SQL literal."""
    write = _BY_TYPE.get(type(value))
    if write is None:
        raise TypeError(f"cannot send a {type(value).__name__} to PostgreSQL")
    return write(value)


def _text(value: str) -> str:
    if "\x00" in value:
        # A NUL would end the query text early; PostgreSQL cannot store it in text anyway.
        raise StorageError("PostgreSQL cannot store the NUL character (\\u0000) in text")
    return "E'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _list(values: list[Any] | tuple[Any, ...]) -> str:
    # `_text(array(values))`, each element escaped on its own: no pass over one huge string
    # (a batch of large events), which would hold the GIL all along.
    return "E'{" + ",".join(map(_text_element, values)) + "}'"


def _text_element(value: object) -> str:
    """`_element(value)` escaped as `_text` escapes: array quoting, then SQL quoting."""
    if isinstance(value, str):
        if "\x00" in value:
            raise StorageError("PostgreSQL cannot store the NUL character (\\u0000) in text")
        escaped = value.replace("\\", "\\\\\\\\").replace('"', '\\\\"').replace("'", "''")
        return '"' + escaped + '"'
    return _element(value)


_BY_TYPE: dict[type, Callable[[Any], str]] = {
    str: _text,
    int: str,
    bool: lambda value: "true" if value else "false",
    type(None): lambda value: "NULL",
    list: _list,
    tuple: _list,
}


def array(values: Iterable[object]) -> str:
    """`values` (strings, integers or `None`) as an array literal, e.g. ``{"a",NULL,2}``."""
    return "{" + ",".join(map(_element, values)) + "}"


def _element(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in a text or integer array")
