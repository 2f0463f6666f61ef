"""Lease heartbeats and hand-backs: how long calls and shutting-down nodes keep work safe."""

from __future__ import annotations

import pytest
from storage_kit import Kit, now

from surge.core.errors import StaleLease
from surge.storage import Commit, Storage


async def test_extended_lease_stays_hidden_past_its_first_expiry(store: Storage, kit: Kit) -> None:
    await kit.start_run()
    t = now()
    [item] = await store.lease_due(now=t, limit=10, lease_ms=1_000)

    await store.extend_leases([item], until=t + 60_000)

    assert await store.lease_due(now=t + 5_000, limit=10, lease_ms=1_000) == []
    await store.commit(Commit(at=now(), item=item))  # the heartbeat kept the lease valid
    assert await store.next_due_at() is None


async def test_extending_a_lost_lease_does_not_steal_it_back(store: Storage, kit: Kit) -> None:
    await kit.start_run()
    t = now()
    [mine] = await store.lease_due(now=t, limit=10, lease_ms=1_000)
    [theirs] = await store.lease_due(now=t + 2_000, limit=10, lease_ms=60_000)

    await store.extend_leases([mine], until=t + 600_000)

    with pytest.raises(StaleLease):
        await store.commit(Commit(at=now(), item=mine))
    await store.commit(Commit(at=now(), item=theirs))
    assert await store.next_due_at() is None


async def test_released_item_is_due_at_once_for_another_node(store: Storage, kit: Kit) -> None:
    run_id = await kit.start_run()
    t = now()
    [item] = await store.lease_due(now=t, limit=10, lease_ms=300_000)

    await store.release([item], now=t + 1)

    [again] = await store.lease_due(now=t + 1, limit=10, lease_ms=1_000)
    assert (again.id, again.run_id, again.step_id) == (item.id, run_id, "step")
    assert again.lease_token != item.lease_token
    with pytest.raises(StaleLease):
        await store.commit(Commit(at=now(), item=item))
