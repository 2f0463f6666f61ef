"""The dashboard's password: kept only as a salted scrypt hash.

`surge start` takes the password from the environment or a file, either in plain text (hashed
as the node starts, then dropped) or already hashed by `surge hash-password`, in the form
``scrypt$<log2 n>$<r>$<p>$<salt>$<hash>`` (salt and hash in unpadded URL-safe base64).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from .errors import InvalidInput

__all__ = ["MIN_PASSWORD_LENGTH", "hash_password", "password_hash", "verify_password"]

MIN_PASSWORD_LENGTH = 12
"""The shortest password `surge start` accepts in plain text."""

_PREFIX = "scrypt$"
_LOG2_N, _R, _P = 15, 8, 1
"""scrypt's cost: 32 MiB and some 60 ms a check on a server core (OWASP's minimum is 2^17
with r 8 for a one-time check; a login form is rate-limited as well, `engine/logins.py`)."""
_MAX_LOG2_N = 20
_SALT_BYTES, _HASH_BYTES = 16, 32


def hash_password(password: str, *, log2_n: int = _LOG2_N) -> str:
    """`password` hashed with a new salt, in the stored form."""
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(password, salt, log2_n, _R, _P)
    return f"{_PREFIX}{log2_n}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def password_hash(configured: str, *, source: str) -> str:
    """The stored form of a configured password: kept as it is if it is already a hash,
    hashed if it is plain text.

    Raises:
        InvalidInput: It is a malformed hash, or plain text shorter than
            `MIN_PASSWORD_LENGTH` (`source` names where it came from).
    """
    value = configured.strip("\r\n")
    if value.startswith(_PREFIX):
        _parse(value, source=source)
        return value
    if len(value) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"the dashboard password ({source}) must be at least {MIN_PASSWORD_LENGTH}"
            f" characters, got {len(value)}"
        )
    return hash_password(value)


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` is the one `stored` (a `hash_password` result) was made from."""
    log2_n, r, p, salt, digest = _parse(stored, source="stored hash")
    return hmac.compare_digest(_scrypt(password, salt, log2_n, r, p), digest)


def _parse(stored: str, *, source: str) -> tuple[int, int, int, bytes, bytes]:
    try:
        log2_n, r, p, salt, digest = stored.removeprefix(_PREFIX).split("$")
        parsed = int(log2_n), int(r), int(p), _unb64(salt), _unb64(digest)
    except ValueError:
        raise InvalidInput(
            f"the dashboard password hash ({source}) is not one `surge hash-password` makes"
        ) from None
    if not (10 <= parsed[0] <= _MAX_LOG2_N and 1 <= parsed[1] <= 32 and 1 <= parsed[2] <= 16):
        raise InvalidInput(f"the dashboard password hash ({source}) has an unsupported cost")
    return parsed


def _scrypt(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    n = 1 << log2_n
    return hashlib.scrypt(
        password.encode(),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=2 * 128 * r * n + 1024 * 1024,
        dklen=_HASH_BYTES,
    )


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise ValueError(str(exc)) from None
