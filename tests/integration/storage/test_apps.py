"""Syncing and removing apps: functions replaced, cron items reconciled."""

from __future__ import annotations

from dataclasses import replace

from storage_kit import Kit

from surge.storage import Storage, WorkItem, WorkKind


def _cron_keys(items: list[WorkItem]) -> list[str]:
    return sorted(i.unique_key or "" for i in items if i.kind is WorkKind.CRON)


async def test_sync_reports_change_only_when_checksum_differs(store: Storage, kit: Kit) -> None:
    app = kit.app(checksum="c1")
    fns = [kit.function(app, "a")]

    assert await store.sync_app(app, fns, []) is True
    assert await store.sync_app(app, fns, []) is False
    assert await store.sync_app(replace(app, checksum="c2"), fns, []) is True
    assert (await store.registry_state()).apps == [replace(app, checksum="c2")]


async def test_sync_replaces_the_apps_functions(store: Storage, kit: Kit) -> None:
    app, other = kit.app("shop"), kit.app("mail")
    a, b, c = kit.function(app, "a"), kit.function(app, "b"), kit.function(app, "c")
    mail = kit.function(other, "send")
    await store.sync_app(other, [mail], [])
    await store.sync_app(app, [a, b], [])

    changed_b = replace(b, name="B", config={"retries": 2})
    await store.sync_app(app, [changed_b, c], [])

    assert (await store.registry_state()).functions == [mail, changed_b, c]


async def test_sync_reconciles_cron_items(store: Storage, kit: Kit) -> None:
    app = kit.app()
    keep, drop = kit.cron(app, "keep"), kit.cron(app, "drop")
    await store.sync_app(app, [kit.function(app, "keep"), kit.function(app, "drop")], [keep, drop])
    moved_keep = replace(keep, due_at=keep.due_at + 1)
    added = kit.cron(app, "keep", "0 * * * *")

    await store.sync_app(app, [kit.function(app, "keep")], [moved_keep, added])

    items = await kit.lease_all()
    assert _cron_keys(items) == sorted([keep.unique_key or "", added.unique_key or ""])
    [kept] = [i for i in items if i.unique_key == keep.unique_key]
    assert kept.due_at == keep.due_at
    assert kept.payload == keep.payload


async def test_sync_leaves_other_apps_crons_and_runs_alone(store: Storage, kit: Kit) -> None:
    shop, mail = kit.app("shop"), kit.app("mail")
    await store.sync_app(mail, [], [kit.cron(mail, "digest")])
    await store.sync_app(shop, [], [kit.cron(shop, "report")])
    run_id = await kit.start_run()

    await store.sync_app(shop, [], [])

    items = await kit.lease_all()
    assert _cron_keys(items) == ["cron:mail-digest:* * * * *"]
    assert [i.run_id for i in items if i.kind is WorkKind.CALL] == [run_id]


async def test_new_id_at_same_url_replaces_old_app(store: Storage, kit: Kit) -> None:
    old = kit.app("old", url="http://host.test/api/inngest")
    await store.sync_app(old, [kit.function(old, "f")], [kit.cron(old, "f")])
    new = kit.app("new", url=old.url)

    assert await store.sync_app(new, [kit.function(new, "f")], []) is True

    assert (await store.registry_state()).apps == [new]
    assert [f.id for f in (await store.registry_state()).functions] == ["new-f"]
    assert await kit.lease_all() == []


async def test_remove_app_deletes_functions_and_crons(store: Storage, kit: Kit) -> None:
    shop, mail = kit.app("shop"), kit.app("mail")
    await store.sync_app(shop, [kit.function(shop, "a")], [kit.cron(shop, "a")])
    await store.sync_app(mail, [kit.function(mail, "b")], [kit.cron(mail, "b")])

    assert await store.remove_app(shop.url) is True
    assert await store.remove_app(shop.url) is False

    assert (await store.registry_state()).apps == [mail]
    assert [f.id for f in (await store.registry_state()).functions] == ["mail-b"]
    assert _cron_keys(await kit.lease_all()) == ["cron:mail-b:* * * * *"]


async def test_apps_and_functions_are_listed_by_id(store: Storage, kit: Kit) -> None:
    apps = [kit.app(name) for name in ("zeta", "alpha", "mid")]
    for app in apps:
        await store.sync_app(app, [kit.function(app, "y"), kit.function(app, "x")], [])

    assert [a.id for a in (await store.registry_state()).apps] == ["alpha", "mid", "zeta"]
    assert [f.id for f in (await store.registry_state()).functions] == sorted(
        f"{a.id}-{s}" for a in apps for s in ("x", "y")
    )


async def test_the_registry_version_moves_with_each_change_and_only_then(
    store: Storage, kit: Kit
) -> None:
    async def version() -> int:
        return (await store.registry_state()).version

    empty = await version()
    app = kit.app("shop", url="http://shop/api", checksum="c1")
    await store.sync_app(app, [kit.function(app, "fn")], [])
    synced = await version()
    await store.sync_app(app, [kit.function(app, "fn")], [])
    assert await version() == synced  # nothing changed

    changed = kit.app("shop", url="http://shop/api", checksum="c2")
    await store.sync_app(changed, [kit.function(changed, "fn")], [])
    resynced = await version()
    await store.remove_app("http://shop/api")
    removed = await version()
    await store.remove_app("http://shop/api")  # nothing there any more

    assert empty < synced < resynced < removed
    assert await version() == removed


async def test_a_function_taken_over_by_another_app_moves_the_version(
    store: Storage, kit: Kit
) -> None:
    shop, mail = kit.app("shop"), kit.app("mail")
    shared = kit.function(shop, "fn")
    await store.sync_app(shop, [shared], [])
    await store.sync_app(mail, [], [])
    before = await store.registry_state()

    # Mail's checksum is the same as before, but it now claims the function.
    await store.sync_app(mail, [replace(shared, app_id="mail")], [])

    after = await store.registry_state()
    assert after.version > before.version
    assert [(f.id, f.app_id) for f in after.functions] == [("shop-fn", "mail")]
