"""``POST /v0/gql``: the GraphQL API (`schema.graphql`), with hostile queries refused.

A query is parsed and validated against the schema, then held to Surge's limits before
anything runs: its size, its depth (fragments followed) and its count of aliases. Errors go
in the standard ``errors`` array; a request that is not a GraphQL request at all (no JSON,
no query) is answered 400. On `surge start` the signing key guards it like the rest of the
API (`auth.py`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    build_schema,
    execute,
)
from starlette.requests import Request
from starlette.responses import Response

from surge.core import codec
from surge.core.errors import Conflict, InvalidInput, NotFound
from surge.core.limits import MAX_GRAPHQL_ALIASES, MAX_GRAPHQL_DEPTH, MAX_GRAPHQL_REQUEST_BYTES

from ..responses import error_response, invalid_input_response, read_body
from . import catalog, events_v2, mutations, resolvers, runs
from .execution import FastExecutionContext, is_coroutine, parsed

logger = logging.getLogger(__name__)


def _schema() -> GraphQLSchema:
    schema = build_schema((Path(__file__).parent / "schema.graphql").read_text())
    query_type = schema.query_type
    assert query_type is not None
    for name, resolve in {
        **resolvers.QUERY,
        **catalog.QUERY,
        **runs.QUERY,
        **events_v2.QUERY,
    }.items():
        query_type.fields[name].resolve = resolve
    mutation_type = schema.mutation_type
    assert mutation_type is not None
    for name, resolve in mutations.MUTATION.items():
        mutation_type.fields[name].resolve = resolve
    return schema


SCHEMA = _schema()


async def graphql_endpoint(request: Request) -> Response:
    """Run one GraphQL request: ``{"query", "variables", "operationName"}``."""
    try:
        body = codec.loads(await read_body(request, MAX_GRAPHQL_REQUEST_BYTES))
    except codec.JSONDecodeError as exc:
        return error_response(f"the body is not JSON: {exc}", 400)
    except InvalidInput as exc:
        return invalid_input_response(exc)
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return error_response("a GraphQL request is a JSON object with a 'query' string", 400)
    variables = body.get("variables")
    if variables is not None and not isinstance(variables, dict):
        return error_response("'variables' must be a JSON object", 400)
    operation = body.get("operationName")
    if operation is not None and not isinstance(operation, str):
        return error_response("'operationName' must be a string", 400)
    result = await run_query(
        body["query"], variables=variables, operation=operation, engine=request.app.state.engine
    )
    return Response(codec.dumps(result), media_type="application/json")


async def run_query(
    query: str, *, variables: dict[str, Any] | None, operation: str | None, engine: Any
) -> dict[str, Any]:
    """The response to `query`: ``data`` and, if any, ``errors``."""
    document, invalid = parsed(SCHEMA, query)
    errors = list(invalid) if document is None or invalid else _limits(document)
    if errors or document is None:
        return {"errors": [error.formatted for error in errors]}
    result = await _execute(document, variables, operation, engine)
    response: dict[str, Any] = {"data": result.data}
    if result.errors:
        response["errors"] = [_formatted(error) for error in result.errors]
    return response


async def _execute(
    document: DocumentNode, variables: dict[str, Any] | None, operation: str | None, engine: Any
) -> Any:
    result = execute(
        SCHEMA,
        document,
        variable_values=variables,
        operation_name=operation,
        context_value={"engine": engine},
        execution_context_class=FastExecutionContext,
        is_awaitable=is_coroutine,
    )
    if not isinstance(result, dict) and hasattr(result, "__await__"):
        result = await result
    return result


def _formatted(error: GraphQLError) -> dict[str, Any]:
    formatted = dict(error.formatted)
    original = error.original_error
    if isinstance(original, NotFound):
        formatted["extensions"] = {"code": "NOT_FOUND"}
    elif isinstance(original, Conflict):
        formatted["extensions"] = {"code": "CONFLICT"}
    elif original is not None and not isinstance(original, InvalidInput | GraphQLError | Conflict):
        # An internal failure: logged whole, answered without its details.
        logger.error("graphql resolver failed", exc_info=original, extra={"path": error.path})
        formatted["message"] = "internal error"
    return formatted


def _limits(document: DocumentNode) -> list[GraphQLError]:
    """Surge's limits on a valid document: depth and aliases."""
    measure = _Measure(document)
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            measure.walk(definition.selection_set, 0, frozenset())
    errors = []
    if measure.deepest > MAX_GRAPHQL_DEPTH:
        errors.append(
            GraphQLError(f"the query is {measure.deepest} levels deep; at most {MAX_GRAPHQL_DEPTH}")
        )
    if measure.aliases > MAX_GRAPHQL_ALIASES:
        errors.append(
            GraphQLError(f"the query has {measure.aliases} aliases; at most {MAX_GRAPHQL_ALIASES}")
        )
    return errors


class _Measure:
    """How deep a document's selections go and how many aliases they use, fragments
    followed (each once per path: validation refused cycles already)."""

    def __init__(self, document: DocumentNode) -> None:
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.aliases = 0
        self.deepest = 0

    def walk(self, selections: SelectionSetNode | None, depth: int, seen: frozenset[str]) -> None:
        if selections is None:
            return
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                self.deepest = max(self.deepest, depth + 1)
                self.aliases += selection.alias is not None
                self.walk(selection.selection_set, depth + 1, seen)
            elif isinstance(selection, InlineFragmentNode):
                self.walk(selection.selection_set, depth, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in seen:
                    self.walk(fragment.selection_set, depth, seen | {name})
