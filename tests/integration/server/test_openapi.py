"""`GET /v1/openapi.json` describes exactly the routes the server serves, as valid OpenAPI 3.1."""

from __future__ import annotations

from typing import TYPE_CHECKING

from openapi_spec_validator import validate
from starlette.routing import Route

from surge.server import create_app

if TYPE_CHECKING:
    from conftest import Harness


async def test_the_document_is_valid_openapi_3_1(server: Harness) -> None:
    resp = await server.client.get("/v1/openapi.json")

    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    document = resp.json()
    assert document["openapi"] == "3.1.0"
    validate(document)


async def test_the_document_names_every_route_and_nothing_else(server: Harness) -> None:
    document = (await server.client.get("/v1/openapi.json")).json()
    app = create_app(server.node.engine)
    served = {
        (route.path, method.lower())
        for route in app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }

    documented = {
        (path, method) for path, operations in document["paths"].items() for method in operations
    }

    assert documented == served
