"""Logging in to and out of the dashboard of `surge start` (`engine/logins.py`).

`surge dev` asks no one to log in: its login page sends the viewer on to the runs.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from surge.core.errors import InvalidInput
from surge.engine import Engine
from surge.engine.logins import SESSION_COOKIE, SESSION_MS, TooManyAttempts

from .rendering import error_page, form, render

__all__ = ["LoginPages"]

_HOME = "/runs"


class LoginPages:
    def __init__(self, engine: Engine) -> None:
        self._logins = engine.logins
        self._asks_login = bool(engine.config.signing_keys)

    async def form(self, request: Request) -> Response:
        target = _safe_target(request.query_params.get("next"))
        if not self._asks_login or getattr(request.state, "session", None) is not None:
            return RedirectResponse(target, status_code=303)
        return self._page(target)

    async def log_in(self, request: Request) -> Response:
        if not self._asks_login:
            return RedirectResponse(_HOME, status_code=303)
        try:
            fields = await form(request)
        except InvalidInput as exc:
            return error_page(exc.message, status=400)
        target = _safe_target(fields.get("next"))
        address = request.client.host if request.client else "unknown"
        try:
            session = await self._logins.log_in(fields.get("password", ""), address=address)
        except TooManyAttempts as exc:
            response = self._page(
                target,
                error=f"Too many attempts from your address; try again in {exc.retry_after_s} s.",
                status=429,
            )
            response.headers["Retry-After"] = str(exc.retry_after_s)
            return response
        if session is None:
            return self._page(target, error="That password is not right.", status=401)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            session.token,
            max_age=SESSION_MS // 1000,
            path="/",
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
        return response

    async def log_out(self, request: Request) -> Response:
        session = getattr(request.state, "session", None)
        if session is not None:
            await self._logins.log_out(session)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(
            SESSION_COOKIE,
            path="/",
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
        return response

    def _page(self, target: str, *, error: str = "", status: int = 200) -> Response:
        context = {"next": target, "enabled": self._logins.enabled, "error": error}
        return render("login.html", context, page="login", status=status)


def _safe_target(target: str | None) -> str:
    """Where to go after logging in: a path on this server, never another site."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return _HOME
    return target
