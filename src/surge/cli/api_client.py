"""The HTTP client the operating verbs (`client_commands.py`) use: one call of a running
server's REST API, its answer unwrapped from `{"data": ...}`, its refusal as `ApiError`."""

from __future__ import annotations

import datetime
from typing import Any
from urllib.parse import quote

import httpx

from surge.core.durations import parse_duration, parse_time
from surge.core.errors import InvalidInput
from surge.core.signing import check_key, hashed_key

__all__ = ["DEFAULT_URL", "ApiClient", "ApiError", "ago_or_time", "now_rfc3339", "segment"]

DEFAULT_URL = "http://127.0.0.1:8288"
TIMEOUT_S = 30.0
UNAUTHORIZED_HINT = " (give --signing-key or set SURGE_SIGNING_KEY)"


class ApiError(Exception):
    """A call that did not succeed: the server refused it (its message) or was not reached."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ApiClient:
    """Calls the server at `url`, with the signing key (if any) as the bearer token.

    The key goes out hashed, as the SDKs send it: the server accepts that form, and the key
    that signs requests to apps stays off the wire.
    """

    def __init__(self, url: str, signing_key: str | None = None) -> None:
        headers = {}
        if signing_key:
            try:
                check_key(signing_key, option="--signing-key")
            except InvalidInput as exc:
                raise ApiError(exc.message) from None
            headers["Authorization"] = f"Bearer {hashed_key(signing_key)}"
        self.url = url.rstrip("/")
        self._client = httpx.Client(base_url=self.url, headers=headers, timeout=TIMEOUT_S)

    def close(self) -> None:
        self._client.close()

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """The `data` of the answer to `method path` with the JSON `body`.

        Raises:
            ApiError: The server answered with an error, or could not be reached.
        """
        try:
            resp = self._client.request(method, path, json=body)
        except httpx.ConnectError:
            raise ApiError(
                f"cannot connect to the Surge server at {self.url}: is it running? "
                "(give --url or set SURGE_URL)"
            ) from None
        except httpx.TimeoutException:
            raise ApiError(f"the Surge server at {self.url} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise ApiError(f"calling the Surge server at {self.url} failed: {exc}") from None
        try:
            payload = resp.json()
        except ValueError:
            payload = None
        if not resp.is_success:
            raise ApiError(_refusal(resp, payload))
        if not isinstance(payload, dict) or "data" not in payload:
            raise ApiError(
                f"{self.url} answered {method} {path} with something that is not Surge's API"
            )
        return payload["data"]


def _refusal(resp: httpx.Response, payload: Any) -> str:
    """The server's error message, or the HTTP status when there is none."""
    if isinstance(payload, dict) and isinstance(payload.get("error"), str):
        message: str = payload["error"]
    else:
        message = f"HTTP {resp.status_code} {resp.reason_phrase}".rstrip()
    return message + UNAUTHORIZED_HINT if resp.status_code == 401 else message


def segment(value: str) -> str:
    """`value` as one path segment (ids may hold any character)."""
    return quote(value, safe="")


def rfc3339(moment: datetime.datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_rfc3339() -> str:
    return rfc3339(datetime.datetime.now(tz=datetime.UTC))


def ago_or_time(text: str) -> str:
    """An RFC 3339 time, or a duration (``2h``, ``30m``, ``7d``) meaning that long ago, as
    RFC 3339 UTC with milliseconds.

    Raises:
        ValueError: `text` is neither, or a time out of range.
    """
    now = datetime.datetime.now(tz=datetime.UTC)
    try:
        seconds = parse_duration(text)
    except InvalidInput:
        seconds = None
    try:
        if seconds is not None:
            if seconds < 0:
                raise ValueError(f"{text!r}: a duration counts back from now, without a sign")
            return rfc3339(now - datetime.timedelta(seconds=seconds))
        ms = parse_time(text)
        return rfc3339(datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC))
    except InvalidInput:
        raise ValueError(
            f"{text!r} is neither an RFC 3339 time nor a duration such as 2h, 30m or 7d"
        ) from None
    except OverflowError:
        raise ValueError(f"{text!r} is out of range") from None
