"""`Child`: jobs run in a fresh interpreter, errors and deadlines carried back; `BodyDecoder`
on top of it."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import orjson
import pytest

from surge.core.errors import InvalidInput
from surge.engine.bodies import APART_BYTES, BodyDecoder
from surge.engine.child import Child, ChildFailed
from surge.engine.ingest import sent_events

NOW = 1_700_000_000_000


@pytest.fixture
def child() -> Iterator[Child]:
    child = Child("test")
    yield child
    child.kill()


def large_body(*names: str) -> bytes:
    """Events named `names`, ten of each: a body decoded in the child process."""
    pad = "x" * (APART_BYTES // (10 * len(names)) + 1)
    return orjson.dumps([{"name": name, "data": {"pad": pad}} for name in names for _ in range(10)])


def test_a_job_answers_and_the_child_serves_the_next(child: Child) -> None:
    assert child.run("matches", "event.data.n > 1", {"name": "a", "data": {"n": 2}}) is True
    assert child.run("matches", "event.data.n > 1", {"name": "a", "data": {"n": 0}}) is False


def test_invalid_input_comes_back_with_its_field_and_status(child: Child) -> None:
    body = orjson.dumps([{"name": "ok"}, {"name": ""}])

    with pytest.raises(InvalidInput) as raised:
        child.run("encoded_events", body, None, NOW, 512 * 1024)

    assert raised.value.field == "events[1].name"
    assert raised.value.status == 400


def test_any_other_failure_is_a_child_failure_and_the_child_goes_on(child: Child) -> None:
    with pytest.raises(ChildFailed, match="no-such-job failed: KeyError"):
        child.run("no-such-job")

    assert child.run("matches", "true", {"name": "a", "data": {}}) is True


def test_past_the_deadline_the_answer_is_none(child: Child) -> None:
    slow = "event.data.l.all(x, event.data.l.all(y, x + y >= 0))"

    assert child.run("matches", slow, {"data": {"l": list(range(5000))}}, timeout=0.2) is None


def test_a_child_killed_from_outside_is_a_child_failure(child: Child) -> None:
    os.kill(child.pid, signal.SIGKILL)

    with pytest.raises(ChildFailed, match="died"):
        child.run("matches", "true", {"data": {}})


async def test_a_large_body_is_decoded_apart_with_the_same_events_as_inline() -> None:
    decoder = BodyDecoder()
    body = large_body("a/one", "a/two")
    seed = f"{NOW},AAECAwQFBgcICQ=="
    try:
        apart = await decoder.events(body, seed=seed, now=NOW, max_event_bytes=512 * 1024)
        assert decoder.child_pid is not None
    finally:
        await decoder.close()

    assert apart == sent_events(body, seed=seed, now=NOW, max_event_bytes=512 * 1024)
    assert [e["name"] for _, e in apart] == ["a/one"] * 10 + ["a/two"] * 10


async def test_when_the_child_dies_the_body_is_decoded_here() -> None:
    decoder = BodyDecoder()
    body = large_body("a/one")
    try:
        await decoder.events(body, seed=None, now=NOW, max_event_bytes=512 * 1024)
        assert decoder.child_pid is not None
        os.kill(decoder.child_pid, signal.SIGKILL)

        events = await decoder.events(body, seed=None, now=NOW, max_event_bytes=512 * 1024)
        assert [e["name"] for _, e in events] == ["a/one"] * 10
        assert decoder.child_pid is None  # the next large body starts a new one
    finally:
        await decoder.close()
