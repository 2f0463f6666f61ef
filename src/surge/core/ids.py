"""Identifiers: ULIDs for events and runs, deterministic ULIDs from SDK seeds, step-id hashes."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import time

from surge.core.errors import InvalidInput

__all__ = [
    "EVENT_ID_SEED_HEADER",
    "hash_step_id",
    "is_ulid",
    "new_ulid",
    "seeded_ulids",
    "ulid_floor",
]

EVENT_ID_SEED_HEADER = "X-Inngest-Event-Id-Seed"
"""Header carrying ``"<ms>,<base64 of 10 random bytes>"`` for deterministic event ids."""

_ENTROPY_BYTES = 10
_MAX_MS = (1 << 48) - 1
_ULID_RE = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$", re.IGNORECASE)


def new_ulid(ms: int | None = None) -> str:
    """Return a new random ULID string.

    Args:
        ms: Timestamp in epoch milliseconds to embed; the current time when ``None``.

    Returns:
        The 26-character Crockford base32 ULID.
    """
    if ms is None:
        ms = time.time_ns() // 1_000_000
    if not 0 <= ms <= _MAX_MS:
        raise ValueError(f"ULID timestamp out of range: {ms}")
    return _ulid_from_parts(ms, os.urandom(_ENTROPY_BYTES))


def ulid_floor(ms: int) -> str:
    """The smallest ULID of millisecond `ms`: every ULID minted at or after it sorts at or
    after this one (a time bound for an index of ULIDs)."""
    return _ulid_from_parts(min(max(ms, 0), _MAX_MS), bytes(_ENTROPY_BYTES))


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS = [_CROCKFORD[n >> 5] + _CROCKFORD[n & 31] for n in range(1024)]
"""Every 10-bit value as its two Crockford base32 digits."""
_SHIFTS = tuple(range(120, -1, -10))


def _ulid_from_parts(ms: int, entropy: bytes) -> str:
    # A ULID is its 128 bits as 26 Crockford base32 digits (the first holds 3 bits): 13 pairs
    # of digits, 10 bits each, from a table. Every event and run gets one; this is about twice
    # as fast as python-ulid, which the tests keep as the reference.
    value = ms << 80 | int.from_bytes(entropy, "big")
    return "".join([_PAIRS[value >> shift & 1023] for shift in _SHIFTS])


def _seed_error(problem: str) -> InvalidInput:
    return InvalidInput(
        f"invalid {EVENT_ID_SEED_HEADER} header: {problem}", field=EVENT_ID_SEED_HEADER
    )


def _parse_seed(seed: str) -> tuple[int, bytes]:
    ms_text, sep, entropy_text = seed.strip().partition(",")
    if not sep:
        raise _seed_error('expected "<ms>,<base64 entropy>"')
    try:
        ms = int(ms_text.strip())
    except ValueError:
        raise _seed_error(f"timestamp {ms_text!r} is not an integer") from None
    if not 0 <= ms <= _MAX_MS:
        raise _seed_error(f"timestamp {ms} is out of range")
    try:
        entropy = base64.b64decode(entropy_text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise _seed_error("entropy is not valid base64") from None
    if len(entropy) != _ENTROPY_BYTES:
        raise _seed_error(f"entropy must be {_ENTROPY_BYTES} bytes, got {len(entropy)}")
    return ms, entropy


def seeded_ulids(seed: str, count: int) -> list[str]:
    """Derive deterministic event ids from an ``X-Inngest-Event-Id-Seed`` header value.

    Matches the Go server: ULID(ms, entropy), where for the i-th event (1-based) ``i`` is
    added to the last four entropy bytes read as a big-endian uint32, wrapping on overflow.

    Args:
        seed: The header value ``"<ms>,<base64 of 10 random bytes>"``.
        count: How many ids to derive, one per event in request order.

    Returns:
        ``count`` ULID strings; the same seed always gives the same ids.

    Raises:
        InvalidInput: The seed is malformed (``field`` names the header).
    """
    ms, entropy = _parse_seed(seed)
    head, tail = entropy[:6], int.from_bytes(entropy[6:], "big")
    return [
        _ulid_from_parts(ms, head + ((tail + i) & 0xFFFFFFFF).to_bytes(4, "big"))
        for i in range(1, count + 1)
    ]


def hash_step_id(step_id: str, index: int = 0) -> str:
    """Hash a user step id the way the SDKs do (`docs/protocol.md`, "Opcodes").

    Args:
        step_id: The id the user gave the step.
        index: The repeat number; ``0`` for the first use, ``n >= 1`` hashes ``"<id>:<n>"``.

    Returns:
        The lowercase hex SHA-1 digest.
    """
    text = step_id if index < 1 else f"{step_id}:{index}"
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def is_ulid(s: str) -> bool:
    """Return whether `s` is a syntactically valid ULID string (case-insensitive)."""
    return bool(_ULID_RE.match(s))
