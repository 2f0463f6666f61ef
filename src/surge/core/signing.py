"""Signing keys and request signatures, as the Inngest SDKs check them (`docs/protocol.md`,
"Signing and keys").

- A server → app request carries `X-Inngest-Signature: t=<unix seconds>&s=<hex>`, where `s`
  is HMAC-SHA256 over the JCS-canonical JSON of the body followed by `t`, keyed with the
  signing key minus its `signkey-<env>-` prefix, taken as the UTF-8 bytes of the hex text.
- An app → server API call carries `Authorization: Bearer <key>`, where the key may be plain
  or hashed (sha256 over the hex-decoded key), with or without its prefix.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import time
from typing import Any

import jcs
import orjson

from . import codec
from .errors import InvalidInput

_PREFIX = re.compile(r"^signkey-[A-Za-z0-9]+-")
MAX_SIGNATURE_AGE_S = 300


def split_key(key: str) -> tuple[str, str]:
    """`(prefix, hex)` of a signing key, e.g. `("signkey-prod-", "ab12…")`."""
    match = _PREFIX.match(key)
    prefix = match.group(0) if match else ""
    return prefix, key[len(prefix) :]


def check_key(key: str, *, option: str) -> str:
    """Validate a signing key given to the server; return it unchanged."""
    _, body = split_key(key)
    if not body or len(body) % 2 or not re.fullmatch(r"[0-9a-fA-F]+", body):
        raise InvalidInput(
            f"{option} must be an even-length hex string, optionally prefixed with "
            "'signkey-<env>-'",
            field=option,
        )
    return key


def hashed_key(key: str) -> str:
    """The key as SDKs send it in `Authorization`: sha256 over its hex-decoded bytes."""
    _, body = split_key(key)
    return hashlib.sha256(bytes.fromhex(body)).hexdigest()


def canonical_json(value: Any) -> bytes:
    """RFC 8785 (JCS) canonical JSON: the bytes both SDKs sign and verify.

    orjson with sorted keys writes exactly those bytes for most values, at native speed
    (`fast_canonical_json`); the rest go through the reference implementation, `jcs`.
    """
    fast = fast_canonical_json(value)
    if fast is not None:
        return fast
    encoded: bytes = jcs.canonicalize(value)
    return encoded


def fast_canonical_json(value: Any) -> bytes | None:
    """`value`'s JCS bytes, when orjson writes them; `None` when it may not: for a float (JCS
    writes numbers as ECMAScript does: `1` for 1.0, `10000000000000000` for 1e16), an integer
    past 2**53 (JCS writes it as the nearest double), and an object key with a character from
    U+E000 up (JCS sorts keys by UTF-16 code units, orjson by code points: the two orders
    differ only between those and the characters past U+FFFF)."""
    try:
        encoded = orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER)
    except TypeError:  # an integer past 2**53, a lone surrogate, a key that is no string
        return None
    # orjson writes every float with a "." or an exponent's sign: ASCII text with neither
    # holds no float and no key from U+E000 up, found at native speed; else walk the value.
    if encoded.isascii() and not (b"." in encoded or b"e+" in encoded or b"e-" in encoded):
        return encoded
    return encoded if _orjson_writes_jcs(value) else None


def _orjson_writes_jcs(value: Any) -> bool:
    """Whether `value` holds no float and no key from U+E000 up (integers are orjson's to
    check). A walk of the value costs a fraction of the slow path, and any search of the
    output for floats would have to read strings too."""
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is dict:
            for key in item:
                if type(key) is str and not key.isascii() and max(key) >= "\ue000":
                    return False
            pending.extend(item.values())
        elif kind is list or kind is tuple:
            pending.extend(item)
        elif kind is float:
            return False
    return True


def signature(body: bytes, key: str, *, at: int | None = None) -> str:
    """The `X-Inngest-Signature` value for `body` (already canonical JSON, or empty)."""
    stamp = int(time.time()) if at is None else at
    digest = hmac.digest(_secret(key), body + str(stamp).encode(), "sha256").hex()
    return f"t={stamp}&s={digest}"


@functools.lru_cache(maxsize=8)
def _secret(key: str) -> bytes:
    """The HMAC key of a signing key: the UTF-8 bytes of its hex text, without the prefix."""
    return split_key(key)[1].encode()


def verify_signature(
    header: str | None, body: bytes, keys: list[str], *, now: int | None = None
) -> bool:
    """Whether `header` signs `body` with one of `keys`, within five minutes of `now`.

    `body` is re-canonicalised first when it is JSON, as the SDKs do, so formatting does not
    matter; an empty body signs as the empty string.
    """
    if not header:
        return False
    fields = dict(part.split("=", 1) for part in header.split("&") if "=" in part)
    stamp, given = fields.get("t", ""), fields.get("s", "")
    if not (stamp.isascii() and stamp.isdigit()) or not given:
        return False
    current = int(time.time()) if now is None else now
    if abs(current - int(stamp)) > MAX_SIGNATURE_AGE_S:
        return False
    message = _canonical_or_raw(body)
    for key in keys:
        expected = signature(message, key, at=int(stamp)).split("&s=", 1)[1]
        if _same(expected, given):
            return True
    return False


def bearer_matches(header: str | None, keys: list[str]) -> bool:
    """Whether an `Authorization: Bearer …` header names one of `keys` (plain or hashed)."""
    if not header or not header.lower().startswith("bearer "):
        return False
    token = header[7:].strip()
    _, token_body = split_key(token)
    for key in keys:
        _, plain = split_key(key)
        for accepted in (plain, hashed_key(key)):
            if _same(token_body.lower(), accepted.lower()):
                return True
    return False


def _same(a: str, b: str) -> bool:
    """Constant-time equality of any two texts (`compare_digest` refuses non-ASCII `str`s
    with an exception, and header values come from the client)."""
    return hmac.compare_digest(
        a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass")
    )


def _canonical_or_raw(body: bytes) -> bytes:
    if not body.strip():
        return b""
    try:
        return canonical_json(codec.loads(body))
    except codec.JSONDecodeError:
        return body
