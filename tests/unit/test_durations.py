from __future__ import annotations

import pytest

from surge.core.durations import format_duration, parse_duration, parse_time
from surge.core.errors import InvalidInput


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("1.5s", 1.5),
        ("90s", 90.0),
        ("1m", 60.0),
        ("1h30m", 5400.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("1w", 604800.0),
        ("250ms", 0.25),
        ("100us", 0.0001),
        ("100µs", 0.0001),
        ("5ns", 5e-9),
        ("1h1m1s1ms", 3661.001),
        (".5s", 0.5),
        ("0", 0.0),
        ("-1m", -60.0),
        (" 30s ", 30.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "abc", "1x", "1h30", "s", "1.2.3s", "1 h", "--1s"])
def test_parse_duration_rejects_garbage(text: str) -> None:
    with pytest.raises(InvalidInput, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("1970-01-01T00:00:00Z", 0),
        ("2024-05-01T09:00:00Z", 1_714_554_000_000),
        ("2024-05-01T09:00:00.123Z", 1_714_554_000_123),
        ("2024-05-01T09:00:00.123456789Z", 1_714_554_000_123),
        ("2024-05-01T11:00:00+02:00", 1_714_554_000_000),
        ("2024-05-01T04:30:00-04:30", 1_714_554_000_000),
        ("2024-05-01T09:00:00", 1_714_554_000_000),
        ("1969-12-31T23:59:59.999Z", -1),
    ],
)
def test_parse_time(text: str, ms: int) -> None:
    assert parse_time(text) == ms


@pytest.mark.parametrize("text", ["", "yesterday", "2024-13-01T00:00:00Z", "2024-05-01T25:00Z"])
def test_parse_time_rejects_garbage(text: str) -> None:
    with pytest.raises(InvalidInput, match="invalid time"):
        parse_time(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (1, "1s"),
        (1.5, "1.5s"),
        (60, "1m"),
        (90, "1m30s"),
        (5400, "1h30m"),
        (86400, "24h"),
        (0.25, "250ms"),
        (0.0001, "100us"),
        (-60, "-1m"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("seconds", [0.001, 0.5, 1, 59.5, 61, 3599, 3661.25, 200000])
def test_format_duration_round_trips(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)


def test_format_duration_rejects_non_finite() -> None:
    with pytest.raises(ValueError, match="cannot format"):
        format_duration(float("inf"))
