"""Builds: the persistent queue (queued → running → succeeded/failed/cancelled) and deploy keys."""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import aiosqlite

from c66d.errors import Conflict, NotFound
from c66d.store.db import Database
from c66d.store.filters import stacks_clause, where

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
FINAL = ("succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class Build:
    id: int
    stack: str
    service: str
    ref: str
    branch: str
    commit_sha: str
    message: str
    author: str
    status: str
    reason: str
    step: str
    digest: str
    image: str
    log_path: str
    trigger: str
    actor: str
    attempt: int
    created_at: float
    started_at: float | None
    finished_at: float | None
    server: str = ""  # the builder whose engine ran it

    @classmethod
    def from_row(cls, row: aiosqlite.Row) -> Build:
        return cls(**dict(row))

    @property
    def finished(self) -> bool:
        return self.status in FINAL

    def public(self) -> dict[str, Any]:
        """The shape the API shows."""
        return {
            "id": self.id, "stack": self.stack, "service": self.service, "ref": self.ref,
            "branch": self.branch,
            "commit": {"sha": self.commit_sha, "message": self.message, "author": self.author},
            "status": self.status, "reason": self.reason, "step": self.step,
            "digest": self.digest, "image": self.image, "trigger": self.trigger,
            "actor": self.actor, "attempt": self.attempt, "created_at": self.created_at,
            "started_at": self.started_at, "finished_at": self.finished_at,
            "server": self.server,
        }


@dataclass(frozen=True)
class DeployKey:
    stack: str
    private_key: str
    public_key: str
    created_at: float


@dataclass(frozen=True)
class Queued:
    """What `BuildStore.enqueue` did: the new build and the builds it superseded."""

    build: Build
    superseded: list[int]


class BuildStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def enqueue(
        self, stack: str, service: str, *, ref: str = "", branch: str = "",
        trigger: str = "api", actor: str = "",
    ) -> Queued:
        """Queue a build; an older queued build of the same stack/service/branch is cancelled.

        `branch` is set for builds that follow a branch (its head, or a pushed commit of it);
        builds of an explicit commit or tag leave it empty and never supersede.
        """
        now = time.time()
        async with self.db.write() as conn:
            cur = await conn.execute(
                "INSERT INTO builds (stack, service, ref, branch, trigger, actor, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (stack, service, ref, branch, trigger, actor, now),
            )
            new_id = cur.lastrowid or 0
            older: list[int] = []
            if branch:
                same = "status = 'queued' AND stack = ? AND service = ? AND branch = ? AND id < ?"
                key = (stack, service, branch, new_id)
                cur = await conn.execute(f"SELECT id FROM builds WHERE {same}", key)  # noqa: S608
                older = [int(r[0]) for r in await cur.fetchall()]
                await conn.execute(
                    "UPDATE builds SET status = 'cancelled', reason = ?, finished_at = ?"  # noqa: S608
                    f" WHERE {same}",
                    (f"superseded by build {new_id}", now, *key),
                )
        return Queued(await self.get(new_id), older)

    async def get(self, build_id: int) -> Build:
        row = await self.db.fetchone("SELECT * FROM builds WHERE id = ?", (build_id,))
        if row is None:
            raise NotFound(f"no build {build_id}", detail={"build": build_id})
        return Build.from_row(row)

    async def query(
        self, *, stack: str | None = None, service: str | None = None,
        status: str | None = None, before: int | None = None, limit: int = 50,
        stacks: Collection[str] | None = None,
    ) -> list[Build]:
        """Newest first; `before` is the cursor (an id); `stacks` limits to readable stacks."""
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("stack", stack), ("service", service), ("status", status)):
            if value:
                clauses.append(f"{column} = ?")
                params.append(value)
        if before:
            clauses.append("id < ?")
            params.append(before)
        readable, names = stacks_clause("stack", stacks)
        clauses.append(readable)
        params.extend(names)
        rows = await self.db.fetchall(
            f"SELECT * FROM builds {where(clauses)} ORDER BY id DESC LIMIT ?",  # noqa: S608
            (*params, limit),
        )
        return [Build.from_row(r) for r in rows]

    async def count(self, status: str) -> int:
        row = await self.db.fetchone("SELECT COUNT(*) FROM builds WHERE status = ?", (status,))
        return int(row[0]) if row else 0

    async def claim_next(self) -> Build | None:
        """Take the oldest queued build and mark it running, in one transaction (FIFO)."""
        async with self.db.write() as conn:
            cur = await conn.execute(
                "SELECT id FROM builds WHERE status = 'queued' ORDER BY id LIMIT 1"
            )
            row = await cur.fetchone()
            if row is None:
                return None
            await conn.execute(
                "UPDATE builds SET status = 'running', started_at = ?, step = 'starting'"
                " WHERE id = ?",
                (time.time(), row[0]),
            )
        return await self.get(int(row[0]))

    async def set_log_path(self, build_id: int, path: str) -> None:
        await self.db.execute("UPDATE builds SET log_path = ? WHERE id = ?", (path, build_id))

    async def set_step(self, build_id: int, step: str) -> None:
        await self.db.execute("UPDATE builds SET step = ? WHERE id = ?", (step, build_id))

    async def set_commit(
        self, build_id: int, *, sha: str, branch: str, message: str, author: str
    ) -> None:
        await self.db.execute(
            "UPDATE builds SET commit_sha = ?, branch = ?, message = ?, author = ? WHERE id = ?",
            (sha, branch, message, author, build_id),
        )

    async def finish(
        self, build_id: int, status: str, *, reason: str = "", digest: str = "", image: str = ""
    ) -> Build:
        """Move a running (or queued) build to a final status; a final build stays as it is."""
        if status not in FINAL:
            raise ValueError(f"not a final status: {status}")
        await self.db.execute(
            "UPDATE builds SET status = ?, reason = ?, digest = ?, image = ?, finished_at = ?,"
            " step = '' WHERE id = ? AND status IN ('queued', 'running')",
            (status, reason, digest, image, time.time(), build_id),
        )
        return await self.get(build_id)

    async def cancel_queued(self, build_id: int, reason: str) -> bool:
        """Cancel a build that is still queued; False when it is not queued any more."""
        async with self.db.write() as conn:
            cur = await conn.execute(
                "UPDATE builds SET status = 'cancelled', reason = ?, finished_at = ?"
                " WHERE id = ? AND status = 'queued'",
                (reason, time.time(), build_id),
            )
            return cur.rowcount > 0

    async def set_server(self, build_id: int, server: str) -> None:
        await self.db.execute("UPDATE builds SET server = ? WHERE id = ?", (server, build_id))

    async def recover_interrupted(self, reason: str, *, attempts: int = 2
                                  ) -> tuple[list[int], list[int]]:
        """At start: builds left `running` by a previous process go back to the queue, in their
        place, for another attempt; those out of attempts fail with `reason`.
        Returns (retried, failed) ids."""
        async with self.db.write() as conn:
            cur = await conn.execute(
                "SELECT id, attempt FROM builds WHERE status = 'running' ORDER BY id")
            rows = [(int(r[0]), int(r[1])) for r in await cur.fetchall()]
            retried = [i for i, attempt in rows if attempt < attempts]
            failed = [i for i, attempt in rows if attempt >= attempts]
            await conn.executemany(
                "UPDATE builds SET status = 'queued', attempt = attempt + 1, step = '',"
                " started_at = NULL, server = '' WHERE id = ?", [(i,) for i in retried])
            await conn.executemany(
                "UPDATE builds SET status = 'failed', reason = ?, finished_at = ?, step = ''"
                " WHERE id = ?", [(reason, time.time(), i) for i in failed])
        return retried, failed

    async def by_commit(self, sha: str) -> list[Build]:
        rows = await self.db.fetchall(
            "SELECT * FROM builds WHERE commit_sha = ? ORDER BY id DESC", (sha,)
        )
        return [Build.from_row(r) for r in rows]

    async def latest_succeeded(self, stack: str, service: str) -> Build | None:
        row = await self.db.fetchone(
            "SELECT * FROM builds WHERE stack = ? AND service = ? AND status = 'succeeded'"
            " ORDER BY id DESC LIMIT 1",
            (stack, service),
        )
        return None if row is None else Build.from_row(row)

    # Deploy keys: one ed25519 key per stack, used for ssh git URLs.

    async def deploy_key(self, stack: str) -> DeployKey | None:
        row = await self.db.fetchone("SELECT * FROM build_keys WHERE stack = ?", (stack,))
        return None if row is None else DeployKey(**dict(row))

    async def add_deploy_key(self, stack: str, private_key: str, public_key: str) -> DeployKey:
        async with self.db.write() as conn:
            cur = await conn.execute("SELECT 1 FROM build_keys WHERE stack = ?", (stack,))
            if await cur.fetchone():
                raise Conflict(f"stack {stack!r} has a deploy key already")
            await conn.execute(
                "INSERT INTO build_keys (stack, private_key, public_key, created_at)"
                " VALUES (?, ?, ?, ?)",
                (stack, private_key, public_key, time.time()),
            )
        key = await self.deploy_key(stack)
        assert key is not None
        return key
