"""How GraphQL errors are answered: what the client may know, and what the log keeps."""

from __future__ import annotations

import logging

import pytest
from graphql import GraphQLError

from surge.core.errors import InvalidInput, NotFound
from surge.server.graphql.endpoint import _formatted


def test_an_internal_failure_is_logged_whole_and_answered_without_its_details(
    caplog: pytest.LogCaptureFixture,
) -> None:
    error = GraphQLError("secret detail", path=["run"], original_error=RuntimeError("boom"))

    with caplog.at_level(logging.ERROR, logger="surge.server.graphql.endpoint"):
        formatted = _formatted(error)

    assert formatted["message"] == "internal error"
    [record] = caplog.records
    assert record.exc_info is not None and str(record.exc_info[1]) == "boom"


def test_bad_input_and_missing_things_keep_their_message() -> None:
    missing = _formatted(GraphQLError("no run 'x'", original_error=NotFound("no run 'x'")))
    invalid = _formatted(
        GraphQLError("first must be", original_error=InvalidInput("first must be"))
    )

    assert (missing["message"], missing["extensions"]) == ("no run 'x'", {"code": "NOT_FOUND"})
    assert invalid["message"] == "first must be"
