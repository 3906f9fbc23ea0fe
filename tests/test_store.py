from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from c66d.errors import Conflict, NotFound
from c66d.store import Store
from c66d.store.db import migration_files


async def test_migrations_apply_once_and_are_recorded(tmp_path: Path) -> None:
    store = Store(tmp_path / "c.db")
    await store.open()
    rows = await store.db.fetchall("SELECT number, name FROM schema_migrations ORDER BY number")
    assert [r["number"] for r in rows] == [n for n, _, _ in migration_files()]
    assert await store.db.migrate() == []
    mode = await store.db.fetchone("PRAGMA journal_mode")
    assert mode is not None and mode[0] == "wal"
    fk = await store.db.fetchone("PRAGMA foreign_keys")
    assert fk is not None and fk[0] == 1
    await store.close()


async def test_servers_and_audit(tmp_path: Path) -> None:
    store = Store(tmp_path / "c.db")
    await store.open()
    await store.servers.add("web1", kind="ssh", address="10.0.0.2", roles=["app"])
    with pytest.raises(Conflict):
        await store.servers.add("web1", kind="ssh")
    await store.servers.set_state("web1", "up", docker_version="20.10")
    server = await store.servers.get("web1")
    assert (server.state, server.docker_version, server.roles) == ("up", "20.10", ["app"])
    assert server.last_seen is not None
    await store.servers.remove("web1")
    with pytest.raises(NotFound):
        await store.servers.get("web1")

    await store.audit.record("alice", "stack.create", stack="shop", address="127.0.0.1")
    await store.audit.record("bob", "server.add", target="web1")
    assert [e.actor for e in await store.audit.query()] == ["bob", "alice"]
    assert [e.action for e in await store.audit.query(stack="shop")] == ["stack.create"]
    await store.close()


async def test_failed_write_rolls_back(tmp_path: Path) -> None:
    store = Store(tmp_path / "c.db")
    await store.open()
    with pytest.raises(RuntimeError):
        async with store.db.write() as conn:
            await conn.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')")
            raise RuntimeError("boom")
    assert await store.meta.get("k") is None
    await store.close()


async def test_a_write_cancelled_while_it_begins_leaves_no_transaction_open(
        tmp_path: Path) -> None:
    """A task cancelled while its BEGIN waits in SQLite's thread (a server removed mid-write,
    c66d stopping): the next writes still work."""
    store = Store(tmp_path / "c.db")
    await store.open()
    for _ in range(5):
        task = asyncio.create_task(store.servers.add("gone", kind="ssh"))
        await asyncio.sleep(0)  # it holds the write lock and waits for BEGIN IMMEDIATE
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await store.audit.record("alice", "stack.create", stack="shop")
        with contextlib.suppress(NotFound):
            await store.servers.remove("gone")
    assert len(await store.audit.query()) == 5
    await store.close()
