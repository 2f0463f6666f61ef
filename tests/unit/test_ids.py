from __future__ import annotations

import base64
import random

import pytest
from ulid import ULID

from surge.core.errors import InvalidInput
from surge.core.ids import hash_step_id, is_ulid, new_ulid, seeded_ulids


def _seed(ms: int, entropy: bytes) -> str:
    return f"{ms},{base64.b64encode(entropy).decode()}"


def test_new_ulid_is_a_ulid_and_unique() -> None:
    ids = {new_ulid() for _ in range(100)}
    assert len(ids) == 100
    assert all(is_ulid(i) for i in ids)


def test_new_ulid_embeds_the_given_timestamp() -> None:
    assert ULID.from_str(new_ulid(1_714_550_400_123)).milliseconds == 1_714_550_400_123


@pytest.mark.parametrize("case", range(300))
def test_ulids_are_encoded_as_the_reference_implementation_does(case: int) -> None:
    rng = random.Random(case)
    ms = rng.choice([0, 1, (1 << 48) - 1, rng.randrange(1 << 48)])
    entropy = bytes(rng.choice([0, 255, rng.randrange(256)]) for _ in range(10))

    [first] = seeded_ulids(_seed(ms, entropy), 1)

    # The first seeded id adds 1 to the last four entropy bytes.
    tail = (int.from_bytes(entropy[6:], "big") + 1) & 0xFFFFFFFF
    expected = ULID.from_bytes(ms.to_bytes(6, "big") + entropy[:6] + tail.to_bytes(4, "big"))
    assert first == str(expected)


def test_new_ulid_rejects_negative_timestamp() -> None:
    with pytest.raises(ValueError, match="out of range"):
        new_ulid(-1)


def test_seeded_ulids_add_index_to_last_four_entropy_bytes() -> None:
    entropy = bytes(range(10))
    ids = seeded_ulids(_seed(1_700_000_000_000, entropy), 3)
    assert len(ids) == 3
    for i, value in enumerate(ids, start=1):
        raw = bytes(ULID.from_str(value))
        assert int.from_bytes(raw[:6], "big") == 1_700_000_000_000
        assert raw[6:12] == entropy[:6]
        assert int.from_bytes(raw[12:], "big") == int.from_bytes(entropy[6:], "big") + i


def test_seeded_ulids_are_deterministic() -> None:
    seed = _seed(1_700_000_000_000, b"0123456789")
    assert seeded_ulids(seed, 5) == seeded_ulids(seed, 5)
    assert len(set(seeded_ulids(seed, 5))) == 5


def test_seeded_ulids_wrap_the_uint32() -> None:
    entropy = b"\x01" * 6 + b"\xff\xff\xff\xff"
    ids = seeded_ulids(_seed(5, entropy), 2)
    assert bytes(ULID.from_str(ids[0]))[6:] == b"\x01" * 6 + b"\x00\x00\x00\x00"
    assert bytes(ULID.from_str(ids[1]))[6:] == b"\x01" * 6 + b"\x00\x00\x00\x01"


@pytest.mark.parametrize(
    "seed",
    [
        "",
        "1700000000000",
        "abc," + base64.b64encode(b"0123456789").decode(),
        "1700000000000,!!!notbase64",
        "1700000000000," + base64.b64encode(b"short").decode(),
        "-5," + base64.b64encode(b"0123456789").decode(),
    ],
)
def test_seeded_ulids_reject_bad_seeds_naming_the_header(seed: str) -> None:
    with pytest.raises(InvalidInput) as info:
        seeded_ulids(seed, 1)
    assert info.value.field == "X-Inngest-Event-Id-Seed"
    assert "X-Inngest-Event-Id-Seed" in info.value.message
    assert info.value.status == 400


def test_hash_step_id_matches_the_sdks() -> None:
    assert hash_step_id("my-step-id") == "e7d8a2f140845095749d60246ff1110c9d01d76a"
    assert hash_step_id("my-step-id", 0) == hash_step_id("my-step-id")
    assert hash_step_id("my-step-id", 1).startswith("f47c6228")
    assert hash_step_id("my-step-id", 2) != hash_step_id("my-step-id", 1)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("01HZ0000000000000000000000", True),
        ("01hz0000000000000000000000", True),
        ("01HZ000000000000000000000", False),  # 25 chars
        ("01HZ00000000000000000000000", False),  # 27 chars
        ("01HZ000000000000000000000U", False),  # U is not Crockford
        ("81HZ0000000000000000000000", False),  # timestamp overflow
        ("", False),
    ],
)
def test_is_ulid(value: str, expected: bool) -> None:
    assert is_ulid(value) is expected
