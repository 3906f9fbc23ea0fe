"""Deployments, their steps, and the containers c66d runs."""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import aiosqlite

from c66d import jsonio
from c66d.errors import NotFound
from c66d.store.db import Database
from c66d.store.filters import stacks_clause, where

FINISHED = ("succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class Deployment:
    id: int
    stack: str
    number: int
    status: str
    reason: str
    snapshot: dict[str, Any]
    rollback_of: int | None
    actor: str
    created_at: float
    started_at: float | None
    finished_at: float | None

    @classmethod
    def from_row(cls, row: aiosqlite.Row) -> Deployment:
        return cls(**{**dict(row), "snapshot": jsonio.loads(row["snapshot"])})


@dataclass(frozen=True)
class Step:
    id: int
    deployment_id: int
    at: float
    service: str
    server: str
    action: str
    status: str
    message: str


@dataclass(frozen=True)
class ContainerRecord:
    id: str
    name: str
    stack: str
    service: str
    server: str
    deployment: int
    image: str
    config_hash: str
    address: str
    state: str
    health: str
    created_at: float
    updated_at: float
    restarts: int = 0  # consecutive crashes the reconciler restarted (0 once stable again)
    next_try: float = 0.0  # when the reconciler restarts it next (time.time())
    last_log: str = ""  # last log lines when it last exited


class DeploymentStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, stack: str, snapshot: dict[str, Any], *, actor: str = "",
                     rollback_of: int | None = None) -> Deployment:
        async with self.db.write() as conn:
            cur = await conn.execute(
                "SELECT COALESCE(MAX(number), 0) + 1 FROM deployments WHERE stack = ?", (stack,))
            row = await cur.fetchone()
            number = int(row[0]) if row else 1
            cur = await conn.execute(
                "INSERT INTO deployments (stack, number, snapshot, rollback_of, actor, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (stack, number, jsonio.dumps(snapshot), rollback_of, actor, time.time()),
            )
            new_id = cur.lastrowid
        return await self.get(int(new_id or 0))

    async def get(self, deployment_id: int) -> Deployment:
        row = await self.db.fetchone("SELECT * FROM deployments WHERE id = ?", (deployment_id,))
        if row is None:
            raise NotFound(f"no deployment {deployment_id}")
        return Deployment.from_row(row)

    async def by_number(self, stack: str, number: int) -> Deployment:
        row = await self.db.fetchone(
            "SELECT * FROM deployments WHERE stack = ? AND number = ?", (stack, number))
        if row is None:
            raise NotFound(f"stack {stack!r} has no deployment {number}")
        return Deployment.from_row(row)

    async def for_stack(self, stack: str, *, limit: int = 50,
                        before: int | None = None) -> list[Deployment]:
        rows = await self.db.fetchall(
            "SELECT * FROM deployments WHERE stack = ? AND number < ? ORDER BY number DESC"
            " LIMIT ?", (stack, before or 2**62, limit))
        return [Deployment.from_row(r) for r in rows]

    async def latest_per_stack(self, stacks: Collection[str] | None = None
                               ) -> dict[str, Deployment]:
        """Each stack's newest deployment, for the stacks given (None: every stack)."""
        readable, names = stacks_clause("stack", stacks)
        rows = await self.db.fetchall(
            "SELECT * FROM deployments WHERE id IN (SELECT max(id) FROM deployments"  # noqa: S608
            f" {where([readable])} GROUP BY stack)", names)
        return {r["stack"]: Deployment.from_row(r) for r in rows}

    async def last_succeeded(self, stack: str) -> Deployment | None:
        row = await self.db.fetchone(
            "SELECT * FROM deployments WHERE stack = ? AND status = 'succeeded'"
            " ORDER BY number DESC LIMIT 1", (stack,))
        return None if row is None else Deployment.from_row(row)

    async def unfinished(self) -> list[Deployment]:
        rows = await self.db.fetchall(
            "SELECT * FROM deployments WHERE status IN ('pending', 'running') ORDER BY id")
        return [Deployment.from_row(r) for r in rows]

    async def set_status(self, deployment_id: int, status: str, reason: str = "") -> None:
        now = time.time()
        await self.db.execute(
            "UPDATE deployments SET status = ?, reason = ?,"
            " started_at = CASE WHEN ? = 'running' THEN ? ELSE started_at END,"
            " finished_at = CASE WHEN ? IN ('succeeded', 'failed', 'cancelled') THEN ?"
            " ELSE finished_at END WHERE id = ?",
            (status, reason, status, now, status, now, deployment_id),
        )

    async def add_step(self, deployment_id: int, action: str, *, service: str = "",
                       server: str = "", status: str = "ok", message: str = "") -> Step:
        now = time.time()
        step_id = await self.db.execute(
            "INSERT INTO deployment_steps (deployment_id, at, service, server, action, status,"
            " message) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (deployment_id, now, service, server, action, status, message),
        )
        return Step(step_id, deployment_id, now, service, server, action, status, message)

    async def steps(self, deployment_id: int, after: int = 0) -> list[Step]:
        rows = await self.db.fetchall(
            "SELECT * FROM deployment_steps WHERE deployment_id = ? AND id > ? ORDER BY id",
            (deployment_id, after))
        return [Step(**dict(r)) for r in rows]


class ContainerStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def upsert(self, record: ContainerRecord) -> None:
        await self.db.execute(
            "INSERT INTO containers (id, name, stack, service, server, deployment, image,"
            " config_hash, address, state, health, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET address = excluded.address,"
            " state = excluded.state, health = excluded.health, updated_at = excluded.updated_at",
            (record.id, record.name, record.stack, record.service, record.server,
             record.deployment, record.image, record.config_hash, record.address, record.state,
             record.health, record.created_at, time.time()),
        )

    async def set_state(self, container_id: str, state: str, health: str = "") -> None:
        await self.db.execute(
            "UPDATE containers SET state = ?, health = ?, updated_at = ? WHERE id = ?",
            (state, health, time.time(), container_id))

    async def remove(self, container_id: str) -> None:
        await self.db.execute("DELETE FROM containers WHERE id = ?", (container_id,))

    async def get(self, container_id: str) -> ContainerRecord:
        row = await self.db.fetchone(
            "SELECT * FROM containers WHERE id = ? OR name = ?"
            " OR (length(?) >= 12 AND id LIKE ? || '%') ORDER BY id = ? DESC, name = ? DESC",
            (container_id, container_id, container_id, container_id, container_id,
             container_id))
        if row is None:
            raise NotFound(f"no container {container_id!r}")
        return ContainerRecord(**dict(row))

    async def named(self, server: str, name: str) -> ContainerRecord | None:
        """The container called `name` on `server`, if c66d still has it."""
        row = await self.db.fetchone(
            "SELECT * FROM containers WHERE server = ? AND name = ?", (server, name))
        return None if row is None else ContainerRecord(**dict(row))

    async def query(self, *, stack: str = "", service: str = "", server: str = "",
                    stacks: Collection[str] | None = None, after: tuple[str, ...] = (),
                    limit: int = -1) -> list[ContainerRecord]:
        """By (stack, service, server, name, id); `after` is such a tuple (the cursor)."""
        clauses, params = [], []
        for column, value in (("stack", stack), ("service", service), ("server", server)):
            if value:
                clauses.append(f"{column} = ?")
                params.append(value)
        readable, names = stacks_clause("stack", stacks)
        clauses.append(readable)
        params.extend(names)
        if after:
            clauses.append("(stack, service, server, name, id) > (?, ?, ?, ?, ?)")
            params.extend(after)
        rows = await self.db.fetchall(
            f"SELECT * FROM containers {where(clauses)}"  # noqa: S608 - fixed names
            " ORDER BY stack, service, server, name, id LIMIT ?", (*params, limit))
        return [ContainerRecord(**dict(r)) for r in rows]

    async def health_per_stack(self, stacks: Collection[str] | None = None,
                               healthy: Collection[str] = ("healthy", "running")
                               ) -> dict[str, tuple[int, int]]:
        """Stack -> (containers, those in a `healthy` state), counted in SQL (one query)."""
        readable, names = stacks_clause("stack", stacks)
        marks = ", ".join("?" * len(healthy))
        rows = await self.db.fetchall(
            f"SELECT stack, COUNT(*), SUM(state IN ({marks})) FROM containers"  # noqa: S608
            f" {where([readable])} GROUP BY stack", (*healthy, *names))
        return {r[0]: (int(r[1]), int(r[2] or 0)) for r in rows}
