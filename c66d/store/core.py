"""Meta values, servers and the audit trail."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import aiosqlite

from c66d import jsonio
from c66d.errors import Conflict, NotFound
from c66d.store.db import Database


@dataclass(frozen=True)
class Server:
    id: int
    name: str
    kind: str
    address: str
    port: int
    username: str
    host_key: str
    pending_host_key: str
    docker_socket: str
    roles: list[str]
    state: str
    state_reason: str
    docker_version: str
    last_seen: float | None
    created_at: float

    @classmethod
    def from_row(cls, row: aiosqlite.Row) -> Server:
        values = dict(row)
        values["roles"] = jsonio.loads(values["roles"])
        return cls(**values)


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: float
    actor: str
    action: str
    stack: str
    target: str
    address: str
    detail: dict[str, Any]


class MetaStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, key: str) -> str | None:
        row = await self.db.fetchone("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row[0])

    async def set(self, key: str, value: str) -> None:
        await self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


class ServerStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def all(self) -> list[Server]:
        rows = await self.db.fetchall("SELECT * FROM servers ORDER BY id")
        return [Server.from_row(r) for r in rows]

    async def get(self, name: str) -> Server:
        row = await self.db.fetchone("SELECT * FROM servers WHERE name = ?", (name,))
        if row is None:
            raise NotFound(f"no server named {name!r}")
        return Server.from_row(row)

    async def find(self, name: str) -> Server | None:
        row = await self.db.fetchone("SELECT * FROM servers WHERE name = ?", (name,))
        return None if row is None else Server.from_row(row)

    async def add(
        self,
        name: str,
        *,
        kind: str,
        address: str = "",
        port: int = 22,
        username: str = "root",
        docker_socket: str = "/var/run/docker.sock",
        roles: list[str] | None = None,
    ) -> Server:
        async with self.db.write() as conn:
            cur = await conn.execute("SELECT 1 FROM servers WHERE name = ?", (name,))
            if await cur.fetchone():
                raise Conflict(f"a server named {name!r} exists already")
            await conn.execute(
                "INSERT INTO servers (name, kind, address, port, username, docker_socket,"
                " roles, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (name, kind, address, port, username, docker_socket,
                 jsonio.dumps(roles or []), time.time()),
            )
        return await self.get(name)

    async def remove(self, name: str) -> None:
        async with self.db.write() as conn:
            cur = await conn.execute("DELETE FROM servers WHERE name = ?", (name,))
            if cur.rowcount == 0:
                raise NotFound(f"no server named {name!r}")

    async def set_state(
        self, name: str, state: str, *, reason: str = "", docker_version: str | None = None
    ) -> None:
        seen = time.time() if state == "up" else None
        await self.db.execute(
            "UPDATE servers SET state = ?, state_reason = ?,"
            " docker_version = COALESCE(?, docker_version),"
            " last_seen = COALESCE(?, last_seen) WHERE name = ?",
            (state, reason, docker_version, seen, name),
        )

    async def set_host_key(self, name: str, host_key: str, *, pending: bool = False) -> None:
        column = "pending_host_key" if pending else "host_key"
        clear = "" if pending else ", pending_host_key = ''"
        await self.db.execute(
            f"UPDATE servers SET {column} = ?{clear} WHERE name = ?",  # noqa: S608 - fixed names
            (host_key, name),
        )

    async def accept_pending_host_key(self, name: str) -> str:
        """Pin the pending host key (an admin accepted it); returns it, '' if none waited."""
        async with self.db.write() as conn:
            cur = await conn.execute(
                "SELECT pending_host_key FROM servers WHERE name = ?", (name,))
            row = await cur.fetchone()
            if row is None:
                raise NotFound(f"no server named {name!r}")
            pending = str(row[0])
            if pending:
                await conn.execute(
                    "UPDATE servers SET host_key = pending_host_key, pending_host_key = ''"
                    " WHERE name = ?", (name,))
        return pending

    async def seen(self, name: str, docker_version: str) -> None:
        """A heartbeat answered: refresh last_seen (and the Docker version)."""
        await self.db.execute(
            "UPDATE servers SET last_seen = ?, docker_version = ? WHERE name = ?",
            (time.time(), docker_version, name),
        )


class AuditStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(
        self,
        actor: str,
        action: str,
        *,
        stack: str = "",
        target: str = "",
        address: str = "",
        detail: dict[str, Any] | None = None,
    ) -> None:
        await self.db.execute(
            "INSERT INTO audit (at, actor, action, stack, target, address, detail)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (time.time(), actor, action, stack, target, address, jsonio.dumps(detail or {})),
        )

    async def query(
        self, *, stack: str | None = None, actor: str | None = None,
        before: int | None = None, limit: int = 100,
    ) -> list[AuditEntry]:
        clauses, params = [], []
        for column, value in (("stack", stack), ("actor", actor)):
            if value:
                clauses.append(f"{column} = ?")
                params.append(value)
        if before:
            clauses.append("id < ?")
            params.append(str(before))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self.db.fetchall(
            f"SELECT * FROM audit {where} ORDER BY id DESC LIMIT ?",  # noqa: S608 - fixed names
            (*params, limit),
        )
        return [
            AuditEntry(**{**dict(r), "detail": jsonio.loads(r["detail"])}) for r in rows
        ]
