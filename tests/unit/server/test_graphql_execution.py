"""The fast path of GraphQL execution answers exactly as graphql-core's own: values, nulls,
enums, callables, errors."""

from __future__ import annotations

import asyncio
from typing import Any

from graphql import build_schema, execute, parse

from surge.server.graphql.execution import FastExecutionContext, is_coroutine, parsed

SCHEMA = build_schema(
    """
    enum Status { OK FAILED }
    type Span {
      name: String!
      note: String
      attempts: Int
      status: Status!
      wanted: Int!
      lazy: String
      children: [Span]!
    }
    type Query { span: Span }
    """
)


async def later(info: Any) -> str:
    await asyncio.sleep(0)
    return "awaited"


SOURCE = {
    "span": {
        "name": "root",
        "note": None,
        "attempts": 2,
        "status": "OK",
        "wanted": 1,
        "lazy": lambda info: "called",
        "children": [
            {"name": "a", "attempts": "3", "status": "FAILED", "wanted": 2, "children": []},
            {"name": "b", "status": "NOPE", "wanted": None, "lazy": later, "children": []},
        ],
    }
}
QUERY = """{ span { name note attempts status wanted lazy __typename
  children { name note attempts status wanted lazy } } }"""


async def run(**options: Any) -> dict[str, Any]:
    result = execute(SCHEMA, parse(QUERY), root_value=SOURCE, **options)
    if asyncio.iscoroutine(result):
        result = await result
    return {"data": result.data, "errors": [e.formatted for e in result.errors or []]}


async def test_the_fast_path_answers_as_graphql_core_does() -> None:
    plain = await run()
    fast = await run(execution_context_class=FastExecutionContext, is_awaitable=is_coroutine)

    assert fast == plain
    span = plain["data"]["span"]
    assert (span["lazy"], span["note"], span["children"][0]["attempts"]) == ("called", None, 3)
    assert span["children"][1] is None  # b's bad status and missing wanted: errors, null
    assert [e["path"][-1] for e in plain["errors"]] == ["status"]  # the first nulls b


def test_parsed_documents_are_cached_and_invalid_ones_keep_their_errors() -> None:
    assert parsed(SCHEMA, "{ span { name } }") is parsed(SCHEMA, "{ span { name } }")
    document, errors = parsed(SCHEMA, "{ span { nope } }")
    assert document is not None and "nope" in errors[0].message
    document, errors = parsed(SCHEMA, "{ span {")
    assert document is None and errors
