"""Serve functions from a Flask app (sync views; async handlers run on a private loop)::

from surge.sdk.serve.flask import serve

serve(app, client, [fn1, fn2])  # at /api/inngest
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from surge.sdk._client import Surge
from surge.sdk._comm import Comm, CommRequest
from surge.sdk._function import Function

__all__ = ["serve"]


def serve(
    app: Any,
    client: Surge,
    functions: Sequence[Function[Any]],
    *,
    path: str = "/api/inngest",
) -> Comm:
    """Add the serve endpoint at `path` to the Flask `app`; return the handler behind it."""
    import flask

    comm = Comm(client, functions, "flask")

    def endpoint() -> flask.Response:
        request = flask.request
        answer = comm.handle_sync(
            CommRequest(
                method=request.method,
                url=request.url,
                query=request.args.to_dict(),
                headers={k.lower(): v for k, v in request.headers.items()},
                body=request.get_data(),
            )
        )
        return flask.Response(answer.body, status=answer.status, headers=answer.headers)

    app.add_url_rule(path, "surge_serve", endpoint, methods=["GET", "POST", "PUT"])
    return comm
