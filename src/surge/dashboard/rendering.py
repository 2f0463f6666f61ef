"""What every page shares: templates, forms, times and the error page."""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any
from urllib.parse import parse_qs

import orjson
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from surge.core.errors import InvalidInput

__all__ = [
    "FORM_BYTES",
    "csrf_token",
    "duration",
    "error_page",
    "form",
    "form_lists",
    "pretty_json",
    "render",
    "render_text",
    "signed_in_as",
    "when",
]

FORM_BYTES = 16 * 1024
"""The largest form a page accepts."""

_TEMPLATES = Environment(
    loader=PackageLoader("surge.dashboard", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)

_CSRF_TOKEN: ContextVar[str] = ContextVar("surge_dashboard_csrf_token", default="")


@contextlib.contextmanager
def signed_in_as(csrf: str) -> Iterator[None]:
    """Render pages, while in this block, for a signed-in viewer whose session's CSRF token
    is `csrf`: every form carries it, and the header offers to log out."""
    reset = _CSRF_TOKEN.set(csrf)
    try:
        yield
    finally:
        _CSRF_TOKEN.reset(reset)


def csrf_token() -> str:
    """The signed-in viewer's CSRF token ("" when no one is signed in: `surge dev`)."""
    return _CSRF_TOKEN.get()


def _csrf_field() -> Markup:
    token = _CSRF_TOKEN.get()
    return (
        Markup(f'<input type="hidden" name="csrf" value="{escape(token)}">') if token else Markup()
    )


_TEMPLATES.globals.update(csrf_token=csrf_token, csrf_field=_csrf_field)


def render(template: str, context: dict[str, Any], *, page: str, status: int = 200) -> Response:
    """`template` rendered with `context`; `page` is the navigation entry it belongs to."""
    return HTMLResponse(render_text(template, context, page=page), status_code=status)


def render_text(template: str, context: dict[str, Any], *, page: str = "") -> str:
    """`template` rendered with `context`, as text (a page's part, sent on its own)."""
    return _TEMPLATES.get_template(template).render(page=page, **context)


def error_page(message: str, *, status: int, page: str = "") -> Response:
    return render("error.html", {"error": message}, page=page, status=status)


async def form(request: Request) -> dict[str, str]:
    """A URL-encoded form's fields (the first value of each).

    Raises:
        InvalidInput: It is larger than `FORM_BYTES`.
    """
    fields = await form_lists(request)
    return {name: values[0] for name, values in fields.items()}


async def form_lists(request: Request, *, limit: int = FORM_BYTES) -> dict[str, list[str]]:
    """A URL-encoded form's fields, each with all its values (ticked boxes share a name).

    The body is read once and kept, so that the CSRF check (`routes.py`) and the page both
    read it.

    Raises:
        InvalidInput: It is larger than `limit` bytes.
    """
    body: bytes | None = getattr(request.state, "form_body", None)
    if body is None:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise InvalidInput(f"the form is larger than {limit // 1024} KiB")
        request.state.form_body = body
    if len(body) > limit:
        raise InvalidInput(f"the form is larger than {limit // 1024} KiB")
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


def when(ms: int | None) -> str:
    """An epoch-milliseconds time for people, in UTC ("" for none)."""
    if not ms:
        return ""
    moment = datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(start: int | None, end: int | None) -> str:
    """How long from `start` to `end` (ms), for people ("" unless both are known)."""
    if start is None or end is None:
        return ""
    ms = max(0, end - start)
    if ms < 1000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    return f"{ms // 60_000} min {ms % 60_000 // 1000} s"


def pretty_json(value: Any) -> str:
    """`value` as indented JSON, for reading."""
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    except TypeError:
        return repr(value)
