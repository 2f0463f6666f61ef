"""Serve functions from a Django project::

from surge.sdk.serve.django import serve

urlpatterns = [serve(client, [fn1, fn2])]  # at api/inngest
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from surge.sdk._client import Surge
from surge.sdk._comm import Comm, CommRequest
from surge.sdk._function import Function

__all__ = ["serve"]


def serve(
    client: Surge,
    functions: Sequence[Function[Any]],
    *,
    path: str = "api/inngest",
) -> Any:
    """A URL pattern answering the serve endpoint at `path` (no leading slash)."""
    from django.http import HttpRequest, HttpResponse
    from django.urls import path as url_path
    from django.views.decorators.csrf import csrf_exempt

    comm = Comm(client, functions, "django")

    def endpoint(request: HttpRequest) -> HttpResponse:
        answer = comm.handle_sync(
            CommRequest(
                method=request.method or "GET",
                url=request.build_absolute_uri(),
                query={key: request.GET[key] for key in request.GET},
                headers={k.lower(): v for k, v in request.headers.items()},
                body=request.body,
            )
        )
        response = HttpResponse(answer.body, status=answer.status)
        for key, value in answer.headers.items():
            response[key] = value
        return response

    view: Any = csrf_exempt(endpoint)
    return url_path(path, view, name="surge-serve")
