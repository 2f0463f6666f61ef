"""How GraphQL requests are executed: a cache of parsed and validated documents, and a
shorter path for the leaf fields of plain objects.

graphql-core resolves every field through the same machinery (resolve info, argument
values, a check for awaitables, completion); that costs about 6 µs a field, which a run's
trace of 1,000 spans of 15 fields pays 15,000 times. Most fields are scalars read off a dict
by the default resolver: `FastExecutionContext` reads and serializes those directly, and
leaves every other field (arguments, resolvers, callables, objects, lists, nulls, errors) to
graphql-core, so results and errors are the same.
"""

from __future__ import annotations

import asyncio
import functools
import types
from typing import Any, ClassVar

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLLeafType,
    GraphQLObjectType,
    GraphQLSchema,
    get_nullable_type,
    is_leaf_type,
    parse,
    validate,
)
from graphql.execution.execute import ExecutionContext
from graphql.language import FieldNode
from graphql.pyutils import Path, Undefined

PARSED_CACHE = 256
"""How many distinct query texts keep their parsed, validated document."""


class FastExecutionContext(ExecutionContext):
    """graphql-core's execution, with a direct read of a dict's scalar fields."""

    _leaves: ClassVar[dict[tuple[str, str, bool], GraphQLLeafType | None]] = {}
    """By (type, field, has arguments): the field's leaf type when it can be read directly."""

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        fields: dict[str, list[FieldNode]],
    ) -> Any:
        if type(source_value) is not dict:
            return super().execute_fields(parent_type, source_value, path, fields)
        results: dict[str, Any] = {}
        awaited: list[str] = []
        for response_name, field_nodes in fields.items():
            node = field_nodes[0]
            leaf = self._leaf(parent_type, node)
            if leaf is not None:
                value = source_value.get(node.name.value)
                if value is not None and not callable(value):
                    try:
                        serialized = leaf.serialize(value)
                    except Exception:  # graphql-core reports it, as it should
                        serialized = Undefined
                    if serialized is not Undefined and serialized is not None:
                        results[response_name] = serialized
                        continue
            field_path = Path(path, response_name, parent_type.name)
            result = self.execute_field(parent_type, source_value, field_nodes, field_path)
            if result is not Undefined:
                results[response_name] = result
                if self.is_awaitable(result):
                    awaited.append(response_name)
        if not awaited:
            return results

        async def gathered() -> dict[str, Any]:
            done = await asyncio.gather(*(results[name] for name in awaited))
            results.update(zip(awaited, done, strict=True))
            return results

        return gathered()

    def _leaf(self, parent_type: GraphQLObjectType, node: FieldNode) -> GraphQLLeafType | None:
        key = (parent_type.name, node.name.value, bool(node.arguments))
        try:
            return self._leaves[key]
        except KeyError:
            pass
        field_def = parent_type.fields.get(node.name.value)
        leaf = None
        if field_def is not None and field_def.resolve is None and not node.arguments:
            named: Any = get_nullable_type(field_def.type)
            leaf = named if is_leaf_type(named) else None
        self._leaves[key] = leaf
        return leaf


def is_coroutine(value: Any) -> bool:
    """Whether a resolver's result is to be awaited: ours are coroutines or nothing
    awaitable (graphql-core's own check costs a `hasattr` on every field)."""
    return isinstance(value, types.CoroutineType)


@functools.lru_cache(maxsize=PARSED_CACHE)
def parsed(
    schema: GraphQLSchema, query: str
) -> tuple[DocumentNode | None, tuple[GraphQLError, ...]]:
    """`query` parsed and validated against `schema` (cached by its text): the document, or
    the errors."""
    try:
        document = parse(query)
    except GraphQLError as exc:
        return None, (exc,)
    return document, tuple(validate(schema, document))
