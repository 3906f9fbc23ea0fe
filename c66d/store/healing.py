"""Self-healing state: crash counts, recorded create configs, and the reconciler's actions."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from c66d import jsonio
from c66d.store.db import Database
from c66d.store.deployments import ContainerRecord


@dataclass(frozen=True)
class ContainerAction:
    """One thing the reconciler (or crash recovery) did to a container."""

    id: int
    at: float
    server: str
    stack: str
    service: str
    container: str
    name: str
    action: str
    message: str


class HealingStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def save_config(self, name: str, server: str, config: dict[str, Any]) -> None:
        """The Docker create config a container was made with (to recreate it by name)."""
        await self.db.execute(
            "INSERT INTO container_configs (name, server, config) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET server = excluded.server,"
            " config = excluded.config", (name, server, jsonio.dumps(config)))

    async def config_of(self, name: str) -> dict[str, Any] | None:
        row = await self.db.fetchone(
            "SELECT config FROM container_configs WHERE name = ?", (name,))
        if row is None:
            return None
        config: dict[str, Any] = jsonio.loads(row["config"])
        return config

    async def prune_configs(self) -> None:
        """Forget configs of containers no longer recorded."""
        await self.db.execute(
            "DELETE FROM container_configs WHERE name NOT IN (SELECT name FROM containers)")

    async def crashed(self, container_id: str, state: str, restarts: int, next_try: float,
                      last_log: str) -> None:
        await self.db.execute(
            "UPDATE containers SET state = ?, health = '', restarts = ?, next_try = ?,"
            " last_log = ?, updated_at = ? WHERE id = ?",
            (state, restarts, next_try, last_log, time.time(), container_id))

    async def stable(self, container_id: str) -> None:
        """It ran long enough: the crash count starts again."""
        await self.db.execute(
            "UPDATE containers SET restarts = 0, updated_at = ? WHERE id = ?",
            (time.time(), container_id))

    async def restarted(self, container_id: str, address: str) -> None:
        await self.db.execute(
            "UPDATE containers SET state = 'starting', health = '', address = ?,"
            " updated_at = ? WHERE id = ?", (address, time.time(), container_id))

    async def recreated(self, old_id: str, new_id: str, address: str) -> ContainerRecord:
        """The same container under a new engine id (recreated from its config)."""
        async with self.db.write() as conn:
            await conn.execute(
                "UPDATE containers SET id = ?, address = ?, state = 'starting', health = '',"
                " updated_at = ? WHERE id = ?", (new_id, address, time.time(), old_id))
        row = await self.db.fetchone("SELECT * FROM containers WHERE id = ?", (new_id,))
        assert row is not None
        return ContainerRecord(**dict(row))

    async def mark_server(self, server: str, state: str) -> list[ContainerRecord]:
        """Every container of `server` not being drained or abandoned gets `state`; returns
        them as before."""
        rows = await self.db.fetchall(
            "SELECT * FROM containers WHERE server = ?"
            " AND state NOT IN ('draining', 'abandoned', ?)", (server, state))
        await self.db.execute(
            "UPDATE containers SET state = ?, health = '', updated_at = ?"
            " WHERE server = ? AND state NOT IN ('draining', 'abandoned', ?)",
            (state, time.time(), server, state))
        return [ContainerRecord(**dict(r)) for r in rows]

    async def abandon(self, stack: str, deployment: int) -> list[ContainerRecord]:
        """Containers an interrupted rollout started but never saw healthy, and old ones it
        was draining: marked `abandoned` for the reconciler to remove."""
        where = ("stack = ? AND ((deployment = ? AND state = 'starting')"
                 " OR state = 'draining')")
        rows = await self.db.fetchall(f"SELECT * FROM containers WHERE {where}",  # noqa: S608
                                      (stack, deployment))
        await self.db.execute(
            f"UPDATE containers SET state = 'abandoned', updated_at = ? WHERE {where}",  # noqa: S608
            (time.time(), stack, deployment))
        return [ContainerRecord(**dict(r)) for r in rows]

    async def record(self, action: str, *, server: str, stack: str = "", service: str = "",
                     container: str = "", name: str = "", message: str = "") -> ContainerAction:
        now = time.time()
        new_id = await self.db.execute(
            "INSERT INTO container_actions (at, server, stack, service, container, name,"
            " action, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (now, server, stack, service, container, name, action, message))
        return ContainerAction(new_id, now, server, stack, service, container, name, action,
                               message)

    async def actions(self, *, server: str = "", stack: str = "", after: int = 0,
                      limit: int = 100) -> list[ContainerAction]:
        rows = await self.db.fetchall(
            "SELECT * FROM container_actions WHERE (? = '' OR server = ?)"
            " AND (? = '' OR stack = ?) AND id > ? ORDER BY id DESC LIMIT ?",
            (server, server, stack, stack, after, limit))
        return [ContainerAction(**dict(r)) for r in rows]
