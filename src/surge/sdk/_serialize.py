"""JSON in and out of user code: dataclasses, pydantic models, and typed memo decoding.

Encoding uses orjson, which handles dataclasses, datetimes, enums and UUIDs natively;
pydantic models (anything with ``model_dump``) go through their JSON mode. Decoding turns a
memoized JSON value back into the type a step's callable declares as its return type, with
pydantic when it is installed, else shallowly for dataclasses.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable
from typing import Any

import orjson

from surge.core.run_errors import OutputNotSerializable

__all__ = ["decoder_for", "dumps", "encode", "fragment", "jsonable", "return_type"]

_NATIVE: frozenset[Any] = frozenset(
    {Any, object, str, int, float, bool, type(None), None, dict, list}
)
_TRANSPARENT_ORIGINS: frozenset[Any] = frozenset(
    {dict, list, typing.Union, types.UnionType, typing.Literal}
)


def _default(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if dump is not None:
        return dump(mode="json")
    if isinstance(value, set | frozenset):
        return list(value)
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def dumps(value: Any) -> bytes:
    """Encode `value` as JSON bytes (dataclasses and pydantic models included)."""
    return orjson.dumps(value, default=_default)


def fragment(value: Any, what: str) -> orjson.Fragment:
    """Encode `value` once, as a fragment to embed in a larger document without re-encoding.

    Raises:
        OutputNotSerializable: `value` cannot be JSON; the message names `what` and the type.
    """
    return orjson.Fragment(encode(value, what))


def encode(value: Any, what: str) -> bytes:
    """`value` as JSON (see `fragment`)."""
    try:
        return orjson.dumps(value, default=_default)
    except TypeError as exc:
        raise OutputNotSerializable(
            f"{what} returned a value that cannot be encoded as JSON ({exc}); return JSON "
            "values, dataclasses or pydantic models"
        ) from None


def jsonable(value: Any) -> Any:
    """`value` as plain JSON data (dicts, lists, str, numbers...)."""
    if isinstance(value, str | int | float | bool | type(None)):
        return value
    return orjson.loads(dumps(value))


def _needs_decode(tp: Any) -> bool:
    if tp in _NATIVE:
        return False
    origin = typing.get_origin(tp)
    if origin in _TRANSPARENT_ORIGINS:
        if origin is typing.Literal:
            return False
        return any(_needs_decode(arg) for arg in typing.get_args(tp) if arg is not Ellipsis)
    return True


@functools.lru_cache(maxsize=512)
def _decoder(tp: Any) -> Callable[[Any], Any] | None:
    if not _needs_decode(tp):
        return None
    try:
        import pydantic
    except ImportError:  # pragma: no cover - pydantic is optional
        if dataclasses.is_dataclass(tp) and isinstance(tp, type):
            cls = tp
            return lambda value: cls(**value) if isinstance(value, dict) else value
        return None
    adapter = pydantic.TypeAdapter(tp)
    return adapter.validate_python


def decoder_for(tp: Any) -> Callable[[Any], Any] | None:
    """A function turning JSON data into `tp`, or ``None`` when the data is already right."""
    if tp is None:
        return None
    try:
        return _decoder(tp)
    except TypeError:  # unhashable annotation
        return _decoder.__wrapped__(tp)


_RETURN_TYPES: dict[Any, Any] = {}


def return_type(fn: Callable[..., Any]) -> Any:
    """The declared return type of `fn` (unwrapping ``Awaitable``), or ``None`` if unknown."""
    key = getattr(fn, "__code__", None) or fn
    try:
        return _RETURN_TYPES[key]
    except (KeyError, TypeError):
        pass
    tp = _resolve_return(fn)
    try:
        _RETURN_TYPES[key] = tp
    except TypeError:
        pass
    return tp


def _resolve_return(fn: Callable[..., Any]) -> Any:
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        return None
    tp = hints.get("return")
    origin = typing.get_origin(tp)
    if origin is not None and getattr(origin, "__name__", "") in ("Awaitable", "Coroutine"):
        args = typing.get_args(tp)
        tp = args[-1] if args else None
    return tp
