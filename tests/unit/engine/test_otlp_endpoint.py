"""``--otlp-endpoint``: a collector's base URL or its traces URL, nothing else."""

from __future__ import annotations

import pytest

from surge.core.errors import InvalidInput
from surge.engine.otlp import trace_endpoint


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://127.0.0.1:4318", "http://127.0.0.1:4318/v1/traces"),
        ("http://collector:4318/", "http://collector:4318/v1/traces"),
        ("https://otel.example.com/v1/traces", "https://otel.example.com/v1/traces"),
    ],
)
def test_the_endpoint_is_a_collector_base_url_or_its_traces_url(given: str, expected: str) -> None:
    assert trace_endpoint(given) == expected


@pytest.mark.parametrize("given", ["127.0.0.1:4318", "grpc://collector:4317", "http://"])
def test_an_endpoint_that_is_not_an_http_url_is_refused(given: str) -> None:
    with pytest.raises(InvalidInput, match="--otlp-endpoint must be an http"):
        trace_endpoint(given)
