"""Stacks, their variables and container counts."""

from __future__ import annotations

import secrets
import time
from collections.abc import Collection
from dataclasses import dataclass, field

import aiosqlite

from c66d import jsonio
from c66d.errors import Conflict, NotFound
from c66d.store.db import Database
from c66d.store.filters import stacks_clause, where
from c66d.store.secretbox import SecretBox


@dataclass(frozen=True)
class Stack:
    id: int
    name: str
    service_yml: str
    hook_secret: str = field(repr=False)
    auto_deploy: bool
    created_at: float
    updated_at: float

    @classmethod
    def from_row(cls, row: aiosqlite.Row) -> Stack:
        return cls(**{**dict(row), "auto_deploy": bool(row["auto_deploy"])})


@dataclass(frozen=True)
class EnvVar:
    name: str
    value: str = field(repr=False)
    secret: bool


class StackStore:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self.db = db
        self.box = box

    async def all(self) -> list[Stack]:
        rows = await self.db.fetchall("SELECT * FROM stacks ORDER BY name")
        return [Stack.from_row(r) for r in rows]

    async def page(self, *, after: str = "", limit: int = -1,
                   stacks: Collection[str] | None = None) -> list[Stack]:
        """Stacks by name after `after`, of `stacks` (None: all)."""
        readable, names = stacks_clause("name", stacks)
        rows = await self.db.fetchall(
            f"SELECT * FROM stacks {where(['name > ?', readable])}"  # noqa: S608 - fixed names
            " ORDER BY name LIMIT ?", ("" if after is None else after, *names, limit))
        return [Stack.from_row(r) for r in rows]

    async def all_counts(self, names: Collection[str]) -> dict[str, dict[str, int]]:
        """Container counts per service of each stack in `names`, in one query."""
        wanted, params = stacks_clause("s.name", names)
        rows = await self.db.fetchall(
            "SELECT s.name, c.service, c.count FROM service_scale c"  # noqa: S608 - fixed names
            f" JOIN stacks s ON s.id = c.stack_id {where([wanted])}", params)
        found: dict[str, dict[str, int]] = {name: {} for name in names}
        for row in rows:
            found[row[0]][row[1]] = row[2]
        return found

    async def find(self, name: str) -> Stack | None:
        row = await self.db.fetchone("SELECT * FROM stacks WHERE name = ?", (name,))
        return None if row is None else Stack.from_row(row)

    async def get(self, name: str) -> Stack:
        stack = await self.find(name)
        if stack is None:
            raise NotFound(f"no stack named {name!r}")
        return stack

    async def create(self, name: str, service_yml: str, *, auto_deploy: bool = False) -> Stack:
        now = time.time()
        async with self.db.write() as conn:
            cur = await conn.execute("SELECT 1 FROM stacks WHERE name = ?", (name,))
            if await cur.fetchone():
                raise Conflict(f"a stack named {name!r} exists already")
            await conn.execute(
                "INSERT INTO stacks (name, service_yml, hook_secret, auto_deploy, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                (name, service_yml, secrets.token_hex(20), int(auto_deploy), now, now),
            )
        return await self.get(name)

    async def update(self, name: str, *, service_yml: str | None = None,
                     auto_deploy: bool | None = None) -> Stack:
        stack = await self.get(name)
        await self.db.execute(
            "UPDATE stacks SET service_yml = ?, auto_deploy = ?, updated_at = ? WHERE id = ?",
            (stack.service_yml if service_yml is None else service_yml,
             int(stack.auto_deploy if auto_deploy is None else auto_deploy),
             time.time(), stack.id),
        )
        return await self.get(name)

    async def delete(self, name: str) -> None:
        async with self.db.write() as conn:
            cur = await conn.execute("DELETE FROM stacks WHERE name = ?", (name,))
            if cur.rowcount == 0:
                raise NotFound(f"no stack named {name!r}")

    async def env_vars(self, name: str) -> list[EnvVar]:
        stack = await self.get(name)
        rows = await self.db.fetchall(
            "SELECT name, value, secret FROM stack_env WHERE stack_id = ? ORDER BY name",
            (stack.id,),
        )
        return [
            EnvVar(r["name"], self.box.open(r["value"]) if r["secret"] else r["value"],
                   bool(r["secret"]))
            for r in rows
        ]

    async def env(self, name: str) -> dict[str, str]:
        """Every variable of the stack, secrets decrypted: for deployments and builds only."""
        return {v.name: v.value for v in await self.env_vars(name)}

    async def sealed_env(self, name: str) -> str:
        """The stack's variables now, sealed whole: what a deployment snapshot keeps, so a
        rollback brings back the variables it ran with (secrets stay encrypted at rest)."""
        return self.box.seal(jsonio.dumps(await self.env(name)))

    def open_env(self, sealed: str) -> dict[str, str]:
        opened: dict[str, str] = jsonio.loads(self.box.open(sealed))
        return opened

    async def set_env(self, name: str, variables: list[EnvVar]) -> None:
        """Replace the stack's variables; secret values are sealed before they are written."""
        stack = await self.get(name)
        rows = [
            (stack.id, v.name, self.box.seal(v.value) if v.secret else v.value, int(v.secret))
            for v in variables
        ]
        async with self.db.write() as conn:
            await conn.execute("DELETE FROM stack_env WHERE stack_id = ?", (stack.id,))
            await conn.executemany(
                "INSERT INTO stack_env (stack_id, name, value, secret) VALUES (?, ?, ?, ?)", rows
            )

    async def counts(self, name: str) -> dict[str, int]:
        stack = await self.get(name)
        rows = await self.db.fetchall(
            "SELECT service, count FROM service_scale WHERE stack_id = ?", (stack.id,)
        )
        return {r["service"]: r["count"] for r in rows}

    async def set_count(self, name: str, service: str, count: int) -> None:
        stack = await self.get(name)
        await self.db.execute(
            "INSERT INTO service_scale (stack_id, service, count) VALUES (?, ?, ?)"
            " ON CONFLICT (stack_id, service) DO UPDATE SET count = excluded.count",
            (stack.id, service, count),
        )
