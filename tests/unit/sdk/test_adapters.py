"""The Flask, Django and Starlette adapters answer like the ASGI one."""

from __future__ import annotations

import httpx
import orjson
import pytest
from starlette.applications import Starlette

import surge
from surge.core.ids import hash_step_id as h

client = surge.Surge(app_id="web", mode="dev", api_origin="http://127.0.0.1:9")


@client.create_function(fn_id="hello", trigger="web/hello")
def hello(ctx: surge.SyncContext) -> str:
    return ctx.step.run("greet", lambda: f"hello {ctx.event.data['who']}")


@client.create_function(fn_id="ahello", trigger="web/hello")
async def ahello(ctx: surge.Context) -> str:
    return str(await ctx.step.run("greet", lambda: "async hello"))


def _body(steps: dict[str, object]) -> bytes:
    return orjson.dumps(
        {
            "event": {"name": "web/hello", "data": {"who": "ada"}, "ts": 1},
            "steps": steps,
            "ctx": {
                "run_id": "r",
                "attempt": 0,
                "disable_immediate_execution": False,
                "stack": {"stack": []},
            },
            "use_api": False,
        }
    )


def _check(get: object, post: object) -> None:
    assert get.status_code == 200  # type: ignore[attr-defined]
    assert get.headers["x-inngest-sdk"].startswith("surge-py:v")  # type: ignore[attr-defined]
    assert post.status_code == 206  # type: ignore[attr-defined]
    assert orjson.loads(post.content)[0]["data"] == "hello ada"  # type: ignore[attr-defined]


def test_flask() -> None:
    flask = pytest.importorskip("flask")
    from surge.sdk.serve.flask import serve

    app = flask.Flask("t")
    serve(app, client, [hello, ahello])
    web = app.test_client()
    get = web.get("/api/inngest")
    post = web.post("/api/inngest?fnId=web-hello&stepId=step", data=_body({}))
    assert get.status_code == 200 and get.headers["x-inngest-framework"] == "flask"
    assert post.status_code == 206 and orjson.loads(post.data)[0]["data"] == "hello ada"
    done = web.post(
        "/api/inngest?fnId=web-ahello&stepId=step", data=_body({h("greet"): {"data": "x"}})
    )
    assert done.status_code == 200 and done.data == b'"x"'


def test_django() -> None:
    pytest.importorskip("django")
    from django.conf import settings

    if not settings.configured:
        settings.configure(ROOT_URLCONF=__name__, ALLOWED_HOSTS=["*"], SECRET_KEY="t", DEBUG=True)
    import django
    from django.test import Client as DjangoClient

    django.setup()
    from surge.sdk.serve.django import serve

    global urlpatterns
    urlpatterns = [serve(client, [hello, ahello])]
    web = DjangoClient()
    get = web.get("/api/inngest")
    post = web.post(
        "/api/inngest?fnId=web-hello&stepId=step", data=_body({}), content_type="application/json"
    )
    assert get.status_code == 200 and get.headers["x-inngest-framework"] == "django"
    assert post.status_code == 206 and orjson.loads(post.content)[0]["data"] == "hello ada"


urlpatterns: list[object] = []


async def test_starlette_route() -> None:
    app = Starlette()
    surge.serve_asgi(app, client, [hello, ahello])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as web:
        get = await web.get("/api/inngest")
        post = await web.post("/api/inngest?fnId=web-hello&stepId=step", content=_body({}))
    _check(get, post)
