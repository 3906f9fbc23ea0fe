"""Cloud nodes: which provider node backs a provisioned server, and how far it got."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import aiosqlite

from c66d import jsonio
from c66d.errors import Conflict, NotFound
from c66d.store.db import Database
from c66d.store.secretbox import SecretBox


@dataclass(frozen=True)
class CloudNode:
    server: str
    driver: str
    credentials: dict[str, str]  # opened: never shown, never logged
    spec: dict[str, Any]
    node_id: str
    address: str
    state: str
    reason: str
    created_at: float
    updated_at: float

    def public(self) -> dict[str, Any]:
        return {"server": self.server, "driver": self.driver, "node_id": self.node_id,
                "address": self.address, "state": self.state, "reason": self.reason,
                "spec": self.spec, "created_at": self.created_at,
                "updated_at": self.updated_at}


class CloudStore:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self.db, self.box = db, box

    def _node(self, row: aiosqlite.Row) -> CloudNode:
        values = dict(row)
        values["credentials"] = jsonio.loads(self.box.open(values["credentials"]))
        values["spec"] = jsonio.loads(values["spec"])
        return CloudNode(**values)

    async def add(self, server: str, driver: str, credentials: dict[str, str],
                  spec: dict[str, Any]) -> CloudNode:
        now = time.time()
        async with self.db.write() as conn:
            cur = await conn.execute("SELECT 1 FROM cloud_nodes WHERE server = ?", (server,))
            if await cur.fetchone() is not None:
                raise Conflict(f"server {server!r} is being provisioned already")
            cur = await conn.execute("SELECT 1 FROM servers WHERE name = ?", (server,))
            if await cur.fetchone() is not None:
                raise Conflict(f"a server named {server!r} exists already")
            await conn.execute(
                "INSERT INTO cloud_nodes (server, driver, credentials, spec, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                (server, driver, self.box.seal(jsonio.dumps(credentials)), jsonio.dumps(spec),
                 now, now))
        return await self.get(server)

    async def find(self, server: str) -> CloudNode | None:
        row = await self.db.fetchone("SELECT * FROM cloud_nodes WHERE server = ?", (server,))
        return None if row is None else self._node(row)

    async def get(self, server: str) -> CloudNode:
        node = await self.find(server)
        if node is None:
            raise NotFound(f"no provisioned server {server!r}")
        return node

    async def all(self) -> list[CloudNode]:
        rows = await self.db.fetchall("SELECT * FROM cloud_nodes ORDER BY server")
        return [self._node(r) for r in rows]

    async def update(self, server: str, *, state: str, reason: str = "", node_id: str = "",
                     address: str = "") -> None:
        await self.db.execute(
            "UPDATE cloud_nodes SET state = ?, reason = ?,"
            " node_id = CASE WHEN ? = '' THEN node_id ELSE ? END,"
            " address = CASE WHEN ? = '' THEN address ELSE ? END, updated_at = ?"
            " WHERE server = ?",
            (state, reason, node_id, node_id, address, address, time.time(), server))

    async def remove(self, server: str) -> None:
        await self.db.execute("DELETE FROM cloud_nodes WHERE server = ?", (server,))
