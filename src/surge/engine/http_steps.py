"""Server-side HTTP steps: ``step.fetch`` (a `Gateway` op) and ``step.ai.infer`` (`AIGateway`).

The server makes the request the op describes on the app's behalf, while it holds the call's
lease, and memoizes the response in the call's commit: a crash mid-request lets the lease
lapse and the call run again (the app reports the op again, and the request is made again);
a response once committed is never requested again. Nothing secret is stored: the request,
with its keys, lives only in memory; history records its method, URL and status, and
response headers that carry credentials are dropped from the memo.

These requests are the server acting for an app, so they are bounded: loopback, link-local
and private addresses are refused unless the server allows them (``--allow-private-http-steps``,
for development), redirects are not followed, and a response may take at most
`HTTP_STEP_TIMEOUT_S` and be at most `MAX_HTTP_STEP_RESPONSE_BYTES`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from surge.core import codec
from surge.core.errors import InvalidInput
from surge.core.limits import HTTP_STEP_TIMEOUT_S, MAX_HTTP_STEP_RESPONSE_BYTES
from surge.core.opcodes import Op, Opcode

from .finish import error_value

__all__ = ["HttpStep", "HttpStepResult", "HttpSteps", "http_step"]

_SECRET_PARTS = ("auth", "key", "token", "secret", "cookie", "signature", "password")


@dataclass(frozen=True, kw_only=True)
class HttpStep:
    """A request an op asks the server to make."""

    step_id: str
    name: str
    kind: str
    """``"fetch"`` (`Gateway`) or ``"ai"`` (`AIGateway`)."""
    url: str
    method: str
    headers: dict[str, str]
    body: bytes | None

    def shown(self) -> dict[str, Any]:
        """What history records of it: no headers, no body, the URL without its query."""
        parts = urlsplit(self.url)
        return {"method": self.method, "url": f"{parts.scheme}://{parts.netloc}{parts.path}"}


@dataclass(frozen=True, kw_only=True)
class HttpStepResult:
    """The memo a request gives its step, or a failure worth retrying the call for."""

    outcome: Any = None
    retry: str | None = None
    """Why the call should be made again (a network failure, a 5xx or 429 from a model)."""
    status: int | None = None


def is_secret(header: str) -> bool:
    """Whether a header's name says it carries a credential."""
    name = header.lower()
    return any(part in name for part in _SECRET_PARTS)


def http_step(op: Op) -> HttpStep:
    """The request of a `Gateway` or `AIGateway` op. `InvalidInput` names what is wrong."""
    opts = op.opts or {}
    kind = "ai" if op.op is Opcode.AI_GATEWAY else "fetch"
    what = "step.ai.infer" if kind == "ai" else "step.fetch"
    url = opts.get("url")
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
        raise InvalidInput(f"{what} needs an http(s) URL, got {url!r}")
    headers = {str(k): str(v) for k, v in (opts.get("headers") or {}).items()}
    body: bytes | None
    if kind == "ai":
        method, body = "POST", codec.dumps(opts.get("body") or {})
        headers.setdefault("content-type", "application/json")
        key = opts.get("auth_key")
        if isinstance(key, str) and key:
            headers.update(_auth(str(opts.get("format") or ""), key))
    else:
        method = str(opts.get("method") or "GET").upper()
        raw = opts.get("body")
        text = raw if isinstance(raw, str) or raw is None else codec.dumps_str(raw)
        body = None if text is None else text.encode()
    return HttpStep(
        step_id=op.id,
        name=op.name or op.display_name,
        kind=kind,
        url=url,
        method=method,
        headers=headers,
        body=body,
    )


def _auth(format_: str, key: str) -> dict[str, str]:
    """The header a model API of `format_` reads its key from."""
    if format_ == "anthropic":
        return {"x-api-key": key}
    if format_ == "gemini":
        return {"x-goog-api-key": key}
    return {"authorization": f"Bearer {key}"}


class HttpSteps:
    """Makes the requests of HTTP steps, bounded as the module docstring says."""

    def __init__(self, *, allow_private: bool = False) -> None:
        self._allow_private = allow_private
        self._client = httpx.AsyncClient(
            timeout=HTTP_STEP_TIMEOUT_S, follow_redirects=False, trust_env=False
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def perform(self, step: HttpStep) -> HttpStepResult:
        """Make `step`'s request; its memo (``{"data": ...}`` or, for good, ``{"error": ...}``)
        or a reason to retry."""
        refused = await self._refused(step.url)
        if refused is not None:
            return _failed(step, "HttpStepRefused", refused)
        try:
            status, headers, body = await self._request(step)
        except _TooLarge:
            limit = MAX_HTTP_STEP_RESPONSE_BYTES
            return _failed(step, "HttpStepError", f"the response is larger than {limit} bytes")
        except httpx.TimeoutException:
            return HttpStepResult(retry=f"{step.url} did not answer in {HTTP_STEP_TIMEOUT_S:g} s")
        except httpx.HTTPError as exc:
            return HttpStepResult(retry=f"{step.method} {step.url} failed: {exc!r}")
        text = body.decode("utf-8", "replace")
        if step.kind == "fetch":
            kept = {k: v for k, v in headers.items() if not is_secret(k)}
            data = {"status_code": status, "headers": kept, "body": text}
            return HttpStepResult(outcome={"data": data}, status=status)
        if status == 429 or status >= 500:
            return HttpStepResult(retry=f"the model answered HTTP {status}: {text[:300]}")
        if status >= 400:
            return _failed(
                step, "AIGatewayError", f"the model answered HTTP {status}: {text[:300]}"
            )
        try:
            return HttpStepResult(outcome={"data": codec.loads(body)}, status=status)
        except codec.JSONDecodeError:
            return _failed(step, "AIGatewayError", f"the model answered non-JSON: {text[:300]}")

    async def _request(self, step: HttpStep) -> tuple[int, dict[str, str], bytes]:
        request = self._client.build_request(
            step.method, step.url, headers=step.headers, content=step.body
        )
        response = await self._client.send(request, stream=True)
        try:
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_HTTP_STEP_RESPONSE_BYTES:
                    raise _TooLarge
                chunks.append(chunk)
        finally:
            await response.aclose()
        return response.status_code, dict(response.headers), b"".join(chunks)

    async def _refused(self, url: str) -> str | None:
        """Why the server will not request `url` (a private address), or `None`."""
        if self._allow_private:
            return None
        host = urlsplit(url).hostname or ""
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, None, type=socket.SOCK_STREAM
            )
        except OSError as exc:
            return f"cannot resolve {host!r}: {exc}"
        for info in infos:
            address = ipaddress.ip_address(info[4][0])
            if not address.is_global or address.is_multicast:
                return (
                    f"{host} is a loopback, link-local or private address ({address}); the"
                    " server makes HTTP steps to such addresses only with"
                    " --allow-private-http-steps"
                )
        return None


class _TooLarge(Exception):
    pass


def _failed(step: HttpStep, name: str, message: str) -> HttpStepResult:
    what = "step.ai.infer" if step.kind == "ai" else "step.fetch"
    return HttpStepResult(outcome={"error": error_value(name, f"{what}: {message}")})
