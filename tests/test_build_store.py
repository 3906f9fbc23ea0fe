"""The build queue in the store: FIFO claims, supersede, cancel, restart recovery."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from c66d.errors import NotFound
from c66d.store import Store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = Store(tmp_path / "c.db")
    await s.open()
    yield s
    await s.close()


async def test_claims_are_fifo_and_each_build_is_claimed_once(store: Store) -> None:
    ids = [(await store.builds.enqueue("shop", svc, ref="abc")).build.id
           for svc in ("web", "api", "worker")]
    claimed = [await store.builds.claim_next() for _ in range(4)]
    assert [b.id if b else None for b in claimed] == [*ids, None]
    assert all(b is not None and b.status == "running" and b.started_at for b in claimed[:3])


async def test_newer_queued_build_of_same_branch_supersedes_older(store: Store) -> None:
    first = (await store.builds.enqueue("shop", "web", ref="a1", branch="main")).build
    other_branch = (await store.builds.enqueue("shop", "web", branch="dev")).build
    pinned = (await store.builds.enqueue("shop", "web", ref="a1")).build
    newer = await store.builds.enqueue("shop", "web", ref="b2", branch="main")
    assert newer.superseded == [first.id]
    old = await store.builds.get(first.id)
    assert (old.status, old.reason) == ("cancelled", f"superseded by build {newer.build.id}")
    for kept in (other_branch.id, pinned.id, newer.build.id):
        assert (await store.builds.get(kept)).status == "queued"


async def test_running_build_is_not_superseded(store: Store) -> None:
    first = (await store.builds.enqueue("shop", "web", branch="main")).build
    await store.builds.claim_next()
    newer = await store.builds.enqueue("shop", "web", branch="main")
    assert newer.superseded == []
    assert (await store.builds.get(first.id)).status == "running"


async def test_finish_cancel_and_restart_recovery(store: Store) -> None:
    a = (await store.builds.enqueue("shop", "web")).build
    b = (await store.builds.enqueue("shop", "api")).build
    c = (await store.builds.enqueue("shop", "db")).build
    await store.builds.claim_next()
    await store.builds.claim_next()
    done = await store.builds.finish(a.id, "succeeded", digest="sha256:00", image="x/y:1")
    assert (done.status, done.digest) == ("succeeded", "sha256:00")
    assert done.finished_at is not None
    # a final build stays final
    assert (await store.builds.finish(a.id, "failed", reason="late")).status == "succeeded"
    assert await store.builds.cancel_queued(c.id, "cancelled by admin")
    assert not await store.builds.cancel_queued(b.id, "too late: running")
    reason = "c66d restarted during the build"
    assert await store.builds.recover_interrupted(reason) == ([b.id], [])
    again = await store.builds.get(b.id)
    assert (again.status, again.attempt, again.started_at) == ("queued", 2, None)
    assert (await store.builds.claim_next()) == await store.builds.get(b.id)
    assert await store.builds.recover_interrupted(reason) == ([], [b.id])
    failed = await store.builds.get(b.id)
    assert (failed.status, failed.reason) == ("failed", "c66d restarted during the build")
    assert [x.id for x in await store.builds.query(status="failed")] == [b.id]
    assert [x.id for x in await store.builds.query(limit=2)] == [c.id, b.id]
    assert [x.id for x in await store.builds.query(before=b.id)] == [a.id]
    with pytest.raises(NotFound):
        await store.builds.get(999)
