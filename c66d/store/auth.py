"""Users, teams and their roles on stacks, and the audit search admins filter."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiosqlite

from c66d import jsonio
from c66d.errors import Conflict, NotFound
from c66d.store.core import AuditEntry
from c66d.store.db import Database

TEAM_ROLES = ("viewer", "deployer", "admin")


@dataclass(frozen=True)
class User:
    id: int
    name: str
    is_admin: bool
    created_at: float
    password_changed_at: float
    password_hash: str = field(repr=False)

    @classmethod
    def from_row(cls, row: aiosqlite.Row) -> User:
        return cls(id=row["id"], name=row["name"], is_admin=bool(row["is_admin"]),
                   created_at=row["created_at"], password_changed_at=row["password_changed_at"],
                   password_hash=row["password_hash"])


@dataclass(frozen=True)
class Team:
    id: int
    name: str
    role: str
    members: tuple[str, ...]
    stacks: tuple[str, ...]


class AuthStore:
    """Users and teams. Password hashes come in already hashed; nothing here sees a password."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # users

    async def user_count(self) -> int:
        row = await self.db.fetchone("SELECT COUNT(*) FROM users")
        return int(row[0]) if row else 0

    async def find_user(self, name: str) -> User | None:
        row = await self.db.fetchone("SELECT * FROM users WHERE name = ?", (name,))
        return None if row is None else User.from_row(row)

    async def user_by_id(self, user_id: int) -> User | None:
        row = await self.db.fetchone("SELECT * FROM users WHERE id = ?", (user_id,))
        return None if row is None else User.from_row(row)

    async def get_user(self, name: str) -> User:
        user = await self.find_user(name)
        if user is None:
            raise NotFound(f"no user named {name!r}")
        return user

    async def users(self, *, after: str = "", limit: int = -1) -> list[User]:
        """Users by name, those after `after`; at most `limit` (-1: all)."""
        rows = await self.db.fetchall(
            "SELECT * FROM users WHERE name > ? ORDER BY name LIMIT ?", (after, limit))
        return [User.from_row(r) for r in rows]

    async def add_user(self, name: str, password_hash: str, *, is_admin: bool = False) -> User:
        now = time.time()
        async with self.db.write() as conn:
            cur = await conn.execute("SELECT 1 FROM users WHERE name = ?", (name,))
            if await cur.fetchone():
                raise Conflict(f"a user named {name!r} exists already")
            await conn.execute(
                "INSERT INTO users (name, password_hash, is_admin, created_at,"
                " password_changed_at) VALUES (?, ?, ?, ?, ?)",
                (name, password_hash, int(is_admin), now, now),
            )
        return await self.get_user(name)

    async def set_password(self, name: str, password_hash: str) -> None:
        """Change the hash; the user's UI sessions end with it."""
        async with self.db.write() as conn:
            cur = await conn.execute(
                "UPDATE users SET password_hash = ?, password_changed_at = ? WHERE name = ?",
                (password_hash, time.time(), name),
            )
            if cur.rowcount == 0:
                raise NotFound(f"no user named {name!r}")
            await conn.execute(
                "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = ?)",
                (name,),
            )

    async def set_admin(self, name: str, is_admin: bool) -> None:
        async with self.db.write() as conn:
            if not is_admin:
                await self._keep_one_admin(conn, name)
            cur = await conn.execute("UPDATE users SET is_admin = ? WHERE name = ?",
                                     (int(is_admin), name))
            if cur.rowcount == 0:
                raise NotFound(f"no user named {name!r}")

    async def remove_user(self, name: str) -> None:
        async with self.db.write() as conn:
            await self._keep_one_admin(conn, name)
            cur = await conn.execute("DELETE FROM users WHERE name = ?", (name,))
            if cur.rowcount == 0:
                raise NotFound(f"no user named {name!r}")

    @staticmethod
    async def _keep_one_admin(conn: aiosqlite.Connection, name: str) -> None:
        cur = await conn.execute(
            "SELECT COUNT(*) FROM users WHERE is_admin = 1 AND name != ?", (name,))
        others = await cur.fetchone()
        cur = await conn.execute("SELECT is_admin FROM users WHERE name = ?", (name,))
        row = await cur.fetchone()
        if row is not None and row[0] and others is not None and others[0] == 0:
            raise Conflict(f"{name!r} is the last administrator; make another one first")

    async def roles_of(self, user_id: int) -> dict[str, str]:
        """Stack name ('*' = every stack) -> the strongest team role the user holds on it."""
        rows = await self.db.fetchall(
            "SELECT s.stack, t.role FROM team_members m JOIN teams t ON t.id = m.team_id"
            " JOIN team_stacks s ON s.team_id = t.id WHERE m.user_id = ?",
            (user_id,),
        )
        roles: dict[str, str] = {}
        for row in rows:
            stack, role = row["stack"], row["role"]
            current = roles.get(stack)
            if current is None or TEAM_ROLES.index(role) > TEAM_ROLES.index(current):
                roles[stack] = role
        return roles

    # teams

    async def teams(self, *, after: str = "", limit: int = -1) -> list[Team]:
        """Teams by name with their members and stacks (three queries for the whole page)."""
        rows = await self.db.fetchall(
            "SELECT * FROM teams WHERE name > ? ORDER BY name LIMIT ?", (after, limit))
        if not rows:
            return []
        members: dict[int, list[str]] = {r["id"]: [] for r in rows}
        for m in await self.db.fetchall(
                "SELECT m.team_id, u.name FROM team_members m JOIN users u ON u.id = m.user_id"
                " WHERE m.team_id IN (SELECT id FROM teams WHERE name > ? ORDER BY name LIMIT ?)"
                " ORDER BY u.name", (after, limit)):
            members.setdefault(m[0], []).append(m[1])
        stacks: dict[int, list[str]] = {r["id"]: [] for r in rows}
        for s in await self.db.fetchall(
                "SELECT team_id, stack FROM team_stacks WHERE team_id IN"
                " (SELECT id FROM teams WHERE name > ? ORDER BY name LIMIT ?) ORDER BY stack",
                (after, limit)):
            stacks.setdefault(s[0], []).append(s[1])
        return [Team(id=r["id"], name=r["name"], role=r["role"],
                     members=tuple(members[r["id"]]), stacks=tuple(stacks[r["id"]]))
                for r in rows]

    async def get_team(self, name: str) -> Team:
        row = await self.db.fetchone("SELECT * FROM teams WHERE name = ?", (name,))
        if row is None:
            raise NotFound(f"no team named {name!r}")
        members = await self.db.fetchall(
            "SELECT u.name FROM team_members m JOIN users u ON u.id = m.user_id"
            " WHERE m.team_id = ? ORDER BY u.name", (row["id"],))
        stacks = await self.db.fetchall(
            "SELECT stack FROM team_stacks WHERE team_id = ? ORDER BY stack", (row["id"],))
        return Team(id=row["id"], name=row["name"], role=row["role"],
                    members=tuple(m[0] for m in members), stacks=tuple(s[0] for s in stacks))

    async def add_team(self, name: str, role: str) -> Team:
        async with self.db.write() as conn:
            cur = await conn.execute("SELECT 1 FROM teams WHERE name = ?", (name,))
            if await cur.fetchone():
                raise Conflict(f"a team named {name!r} exists already")
            await conn.execute("INSERT INTO teams (name, role, created_at) VALUES (?, ?, ?)",
                               (name, role, time.time()))
        return await self.get_team(name)

    async def update_team(self, name: str, *, role: str | None = None,
                          members: Sequence[str] | None = None,
                          stacks: Sequence[str] | None = None) -> Team:
        """Set what is given; members and stacks replace the lists whole."""
        async with self.db.write() as conn:
            cur = await conn.execute("SELECT id FROM teams WHERE name = ?", (name,))
            row = await cur.fetchone()
            if row is None:
                raise NotFound(f"no team named {name!r}")
            team_id = row[0]
            if role is not None:
                await conn.execute("UPDATE teams SET role = ? WHERE id = ?", (role, team_id))
            if members is not None:
                await self._set_members(conn, team_id, members)
            if stacks is not None:
                await conn.execute("DELETE FROM team_stacks WHERE team_id = ?", (team_id,))
                await conn.executemany(
                    "INSERT INTO team_stacks (team_id, stack) VALUES (?, ?)",
                    [(team_id, s) for s in sorted(set(stacks))])
        return await self.get_team(name)

    @staticmethod
    async def _set_members(conn: aiosqlite.Connection, team_id: int,
                           members: Sequence[str]) -> None:
        await conn.execute("DELETE FROM team_members WHERE team_id = ?", (team_id,))
        for member in sorted(set(members)):
            cur = await conn.execute("SELECT id FROM users WHERE name = ?", (member,))
            user = await cur.fetchone()
            if user is None:
                raise NotFound(f"no user named {member!r}", detail={"member": member})
            await conn.execute("INSERT INTO team_members (team_id, user_id) VALUES (?, ?)",
                               (team_id, user[0]))

    async def remove_team(self, name: str) -> None:
        async with self.db.write() as conn:
            cur = await conn.execute("DELETE FROM teams WHERE name = ?", (name,))
            if cur.rowcount == 0:
                raise NotFound(f"no team named {name!r}")

    # audit search (the trail itself is written through store.audit.record)

    async def search_audit(self, *, stack: str = "", actor: str = "", action: str = "",
                           since: float | None = None, before: int | None = None,
                           limit: int = 100) -> list[AuditEntry]:
        """Newest first; `action` matches a prefix (`user.` finds every user action)."""
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("stack", stack), ("actor", actor)):
            if value:
                clauses.append(f"{column} = ?")
                params.append(value)
        if action:
            clauses.append("action LIKE ? ESCAPE '\\'")
            params.append(action.replace("\\", "\\\\").replace("%", "\\%")
                          .replace("_", "\\_") + "%")
        if since is not None:
            clauses.append("at >= ?")
            params.append(since)
        if before:
            clauses.append("id < ?")
            params.append(before)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self.db.fetchall(
            f"SELECT * FROM audit {where} ORDER BY id DESC LIMIT ?",  # noqa: S608 - fixed names
            (*params, limit),
        )
        return [AuditEntry(**{**dict(r), "detail": jsonio.loads(r["detail"])}) for r in rows]
