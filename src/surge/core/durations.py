"""Duration strings (Go style, ``"1h30m"``) and RFC 3339 timestamps."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

from surge.core.errors import InvalidInput

__all__ = ["format_duration", "parse_duration", "parse_time"]

_UNIT_SECONDS: dict[str, float] = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,  # U+00B5 MICRO SIGN, as Go accepts
    "μs": 1e-6,  # U+03BC GREEK SMALL LETTER MU, as Go accepts
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}
# Longest units first so "ms" is not read as "m" followed by garbage.
_UNITS_RE = "|".join(sorted((re.escape(u) for u in _UNIT_SECONDS), key=len, reverse=True))
_PART_RE = re.compile(rf"(\d+(?:\.\d*)?|\.\d+)({_UNITS_RE})")
_FULL_RE = re.compile(rf"(?:(?:\d+(?:\.\d*)?|\.\d+)(?:{_UNITS_RE}))+")


def parse_duration(text: str) -> float:
    """Parse a Go-style duration string into seconds.

    Units ``ns``, ``us``/``µs``, ``ms``, ``s``, ``m``, ``h``, ``d``, ``w`` may be combined
    (``"1h30m"``) and take decimal values (``"1.5s"``). A leading ``+`` or ``-`` is allowed;
    a bare ``"0"`` is zero.

    Args:
        text: The duration string.

    Returns:
        The duration in seconds.

    Raises:
        InvalidInput: `text` is not a duration.
    """
    s = text.strip()
    sign = 1.0
    if s[:1] in ("+", "-"):
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    if not s or not _FULL_RE.fullmatch(s):
        raise InvalidInput(
            f"invalid duration {text!r}: expected a number with a unit "
            '(ns, us, ms, s, m, h, d, w), e.g. "30s" or "1h30m"'
        )
    total = sum(float(num) * _UNIT_SECONDS[unit] for num, unit in _PART_RE.findall(s))
    return sign * total


def parse_time(text: str) -> int:
    """Parse an ISO 8601 / RFC 3339 timestamp into epoch milliseconds.

    Accepts ``Z`` or a numeric offset and fractional seconds of any precision. A timestamp
    without an offset is read as UTC.

    Args:
        text: The timestamp, e.g. ``"2024-05-01T12:00:00.123Z"``.

    Returns:
        Milliseconds since the Unix epoch.

    Raises:
        InvalidInput: `text` is not a timestamp.
    """
    s = text.strip()
    if s[-1:] in ("Z", "z"):
        s = s[:-1] + "+00:00"
    # RFC 3339 allows any precision (Go sends nanoseconds); keep microseconds, which is all
    # datetime holds.
    s = re.sub(r"(\.\d{6})\d+", r"\1", s)
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise InvalidInput(f"invalid time {text!r}: expected RFC 3339") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def format_duration(seconds: float) -> str:
    """Format seconds as a compact Go-style duration (``"1h30m"``, ``"1.5s"``, ``"250ms"``).

    Args:
        seconds: The duration; may be negative or fractional.

    Returns:
        The duration string; ``parse_duration`` reads it back to the same value
        (to the millisecond for sub-minute parts).
    """
    if not math.isfinite(seconds):
        raise ValueError(f"cannot format duration {seconds!r}")
    if seconds < 0:
        return "-" + format_duration(-seconds)
    if seconds == 0:
        return "0s"
    if seconds < 1:
        ms = seconds * 1000
        if ms >= 1:
            return f"{_trim(ms)}ms"
        return f"{_trim(seconds * 1e6)}us"
    whole = int(seconds)
    frac = seconds - whole
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if secs or frac:
        parts.append(f"{_trim(secs + frac)}s")
    return "".join(parts)


def _trim(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text or "0"
