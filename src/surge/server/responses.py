"""JSON responses and the error shape every endpoint shares."""

from __future__ import annotations

from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from surge.core import codec
from surge.core.errors import InvalidInput


class JSONResponse(Response):
    """A JSON response encoded with orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return codec.dumps(content)


def error_response(message: str, status: int, **extra: Any) -> JSONResponse:
    """`{"error": ..., "status": N}` with HTTP N: the shape both SDKs read."""
    return JSONResponse({"error": message, "status": status, **extra}, status_code=status)


def invalid_input_response(exc: InvalidInput) -> JSONResponse:
    extra = {"field": exc.field} if exc.field else {}
    return error_response(exc.message, exc.status, **extra)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) one larger than `limit` bytes before reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise InvalidInput(
            f"request body is {int(declared)} bytes; the limit is {limit} bytes", status=413
        )
    chunks = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise InvalidInput(f"request body exceeds the limit of {limit} bytes", status=413)
            chunks.append(chunk)
    except ClientDisconnect:
        # Gone, or closed for stalling (`server/http.py`): nothing of the request is used.
        raise InvalidInput("the client stopped sending the request body", status=408) from None
    return b"".join(chunks)
