"""Signatures and bearer keys as the official SDKs compute them (`docs/protocol.md`, "Signing
and keys")."""

from __future__ import annotations

import hashlib
import hmac

import jcs
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from surge.core.errors import InvalidInput
from surge.core.signing import (
    bearer_matches,
    canonical_json,
    check_key,
    fast_canonical_json,
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


# -- canonical JSON against the reference JCS implementation -------------------------------


def _json(scalars: st.SearchStrategy[object], keys: st.SearchStrategy[str]) -> st.SearchStrategy:
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
        max_leaves=20,
    )


_ANY_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
"""Every character but lone surrogates (which no JSON text decodes to here)."""
_ANY = _json(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _ANY_TEXT,
    _ANY_TEXT,
)
_BELOW_E000 = st.text(
    st.characters(max_codepoint=0xDFFF, exclude_categories=["Cs"], exclude_characters=",:["),
    max_size=12,
)
_COMMON = _json(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**15) + 1, max_value=10**15 - 1)
    | _BELOW_E000,
    _BELOW_E000,
)
"""What events, memos and requests mostly hold: no floats, integers of up to 15 digits (a
timestamp in milliseconds has 13; from 16 digits the fast path leaves a number to `jcs`, which
writes past 2**53 as a double), no characters from U+E000 up. Texts leave out `,:[`, after
which a digit and a dot would look like a float to the fast path's check (to be safe, it
reads strings as if they were numbers: such a text takes the slow path)."""


@given(_ANY)
@settings(max_examples=400)
@example({"\ue000": 1, "\U0001f600": 2, "a": [1.0, -0.0, 1e21, 1e-7, 1e16, 2**53 + 1]})
@example([1e15, 1e16, 1e20, 1e22, 1e300, 1e-6, 1e-7, 5e-324, 0.1, 123.0, -1e16, 2.0**60])
@example({"text": "a:1.5,[2e3", "ctl": '\x00\x1f\x7f\u2028"\\/', "n": -(2**63)})
def test_canonical_json_is_byte_for_byte_what_the_reference_jcs_writes(value: object) -> None:
    assert canonical_json(value) == jcs.canonicalize(value)


@given(_COMMON)
@settings(max_examples=400)
@example({"b": [1, {"z": None, "y": True}], "a": '\x00\x1f\x7f\u2028"\\/é€'})
def test_common_values_take_the_fast_path_and_it_writes_the_jcs_bytes(value: object) -> None:
    fast = fast_canonical_json(value)
    assert fast is not None, repr(value)
    assert fast == jcs.canonicalize(value)
