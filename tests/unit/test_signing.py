"""Signatures and bearer keys as the official SDKs compute them (`docs/protocol.md`, "Signing
and keys")."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from surge.core.errors import InvalidInput
from surge.core.signing import (
    bearer_matches,
    canonical_json,
    check_key,
    hashed_key,
    signature,
    verify_signature,
)

KEY = "signkey-test-0123456789abcdef0123456789abcdef"
BARE = "0123456789abcdef0123456789abcdef"


def test_signature_is_hmac_of_canonical_body_and_timestamp_keyed_by_hex_text() -> None:
    body = canonical_json({"b": 1.0, "a": [1, "x"]})
    assert body == b'{"a":[1,"x"],"b":1}'
    expected = hmac.new(BARE.encode(), body + b"1700000000", hashlib.sha256).hexdigest()
    assert signature(body, KEY, at=1_700_000_000) == f"t=1700000000&s={expected}"


def test_verify_accepts_pretty_printed_body_and_the_fallback_key() -> None:
    header = signature(canonical_json({"a": 1, "b": 2}), KEY, at=1_700_000_000)
    pretty = b'{\n  "b": 2,\n  "a": 1\n}'
    assert verify_signature(header, pretty, ["signkey-test-ff", KEY], now=1_700_000_010)


def test_verify_refuses_tampered_stale_missing_and_wrong_key() -> None:
    body = canonical_json({"a": 1})
    header = signature(body, KEY, at=1_700_000_000)
    assert not verify_signature(header, b'{"a":2}', [KEY], now=1_700_000_000)
    assert not verify_signature(header, body, [KEY], now=1_700_000_000 + 301)
    assert not verify_signature(None, body, [KEY], now=1_700_000_000)
    assert not verify_signature(header, body, ["signkey-test-abcd"], now=1_700_000_000)


def test_bearer_accepts_plain_or_hashed_with_or_without_prefix_as_the_sdks_send() -> None:
    hashed = hashlib.sha256(bytes.fromhex(BARE)).hexdigest()
    assert hashed_key(KEY) == hashed
    assert bearer_matches(f"Bearer signkey-test-{hashed}", [KEY])  # TypeScript
    assert bearer_matches(f"Bearer {hashed}", [KEY])  # Python
    assert bearer_matches(f"Bearer {KEY}", [KEY])
    assert not bearer_matches("Bearer undefined", [KEY])
    assert not bearer_matches(None, [KEY])
    assert not bearer_matches(f"Bearer {hashed}", ["signkey-test-00ff"])


@pytest.mark.parametrize("key", ["", "abc", "signkey-prod-xyz1", "zz"])
def test_keys_that_are_not_even_length_hex_are_refused(key: str) -> None:
    with pytest.raises(InvalidInput, match="even-length hex"):
        check_key(key, option="--signing-key")


@pytest.mark.parametrize(
    "header", ["t=²&s=abc", "t=1700000000&s=é", "t=\u0661\u0667&s=ab", "t=&s="]
)
def test_a_signature_header_with_odd_text_is_refused_not_raised(header: str) -> None:
    assert not verify_signature(header, b"{}", [KEY], now=1_700_000_000)


@pytest.mark.parametrize("header", ["Bearer é", "Bearer \udcff", "Bearer 🙂" + BARE])
def test_a_bearer_with_odd_text_is_refused_not_raised(header: str) -> None:
    assert not bearer_matches(header, [KEY])
