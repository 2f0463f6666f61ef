"""The dashboard password's hash (`core/passwords.py`)."""

from __future__ import annotations

import pytest

from surge.core.errors import InvalidInput
from surge.core.passwords import hash_password, password_hash, verify_password


def test_a_hash_verifies_its_password_only() -> None:
    stored = hash_password("correct horse battery", log2_n=10)
    assert stored.startswith("scrypt$10$8$1$")
    assert verify_password("correct horse battery", stored)
    assert not verify_password("correct horse batterY", stored)
    assert hash_password("correct horse battery", log2_n=10) != stored  # a new salt each time


def test_a_configured_password_is_hashed_unless_it_is_a_hash_already() -> None:
    stored = hash_password("correct horse battery", log2_n=10)
    assert password_hash(stored + "\n", source="file") == stored
    hashed = password_hash("correct horse battery\n", source="env")
    assert hashed != "correct horse battery" and verify_password("correct horse battery", hashed)


@pytest.mark.parametrize(
    ("configured", "says"),
    [
        ("short", "at least 12 characters, got 5"),
        ("scrypt$10$8$1$not-base64!$x", "is not one `surge hash-password` makes"),
        ("scrypt$40$8$1$AAAA$AAAA", "unsupported cost"),
        ("scrypt$10$8", "is not one `surge hash-password` makes"),
    ],
)
def test_a_bad_configured_password_is_refused_naming_why(configured: str, says: str) -> None:
    with pytest.raises(InvalidInput, match="SURGE_DASHBOARD_PASSWORD") as raised:
        password_hash(configured, source="SURGE_DASHBOARD_PASSWORD")
    assert says in raised.value.message
