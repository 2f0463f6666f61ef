"""The server's garbage collector settings (`surge.cli.serve.tune_gc`)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from surge.cli.serve import GC_THRESHOLDS, tune_gc


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_gc")
def test_startup_objects_are_set_aside_and_young_ones_collected_less_often() -> None:
    started_up = [{"made": n} for n in range(1_000)]
    frozen = gc.get_freeze_count()
    tune_gc()
    assert gc.get_threshold() == GC_THRESHOLDS == (10_000, 20, 20)
    # What existed is frozen (never walked again), among it what starting up made.
    assert gc.get_freeze_count() >= frozen + len(started_up)
    assert all(obj is not started_up for obj in gc.get_objects())
    # What is made afterwards is collected as before: a cycle becomes garbage and goes.
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1
