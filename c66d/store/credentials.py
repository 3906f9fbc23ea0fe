"""API tokens, UI sessions and login throttling: secrets are stored only as hashes."""

from __future__ import annotations

import time
from dataclasses import dataclass

import aiosqlite

from c66d.errors import NotFound
from c66d.store.auth import User
from c66d.store.db import Database

# A token's last use is written at most this often (seconds), not on every request.
TOUCH_EVERY = 60.0


@dataclass(frozen=True)
class ApiToken:
    id: int
    user: str
    name: str
    scope: str
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    last_used_at: float | None

    @classmethod
    def from_row(cls, row: aiosqlite.Row) -> ApiToken:
        return cls(id=row["id"], user=row["user_name"], name=row["name"], scope=row["scope"],
                   created_at=row["created_at"], expires_at=row["expires_at"],
                   revoked_at=row["revoked_at"], last_used_at=row["last_used_at"])

    def usable(self, now: float) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


@dataclass(frozen=True)
class Session:
    user_id: int
    csrf_token: str
    address: str
    created_at: float
    expires_at: float


@dataclass(frozen=True)
class Lockout:
    kind: str  # 'user' or 'address'
    key: str
    failures: int
    locked_until: float | None


_SELECT_WITH_OWNER = (
    "SELECT t.*, u.name AS user_name FROM api_tokens t"
    " JOIN users u ON u.id = t.user_id")


class CredentialStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # API tokens

    async def add_token(self, user_id: int, name: str, token_hash: str, scope: str,
                        expires_at: float | None) -> ApiToken:
        token_id = await self.db.execute(
            "INSERT INTO api_tokens (user_id, name, token_hash, scope, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (user_id, name, token_hash, scope, time.time(), expires_at),
        )
        return await self.get_token(token_id)

    async def get_token(self, token_id: int) -> ApiToken:
        row = await self.db.fetchone(f"{_SELECT_WITH_OWNER} WHERE t.id = ?", (token_id,))
        if row is None:
            raise NotFound(f"no token {token_id}")
        return ApiToken.from_row(row)

    async def tokens(self, user: str | None = None, *, after: int = 0,
                     limit: int = -1) -> list[ApiToken]:
        """Tokens of `user` (None: everyone's) by id, those after id `after`; at most `limit`."""
        if user is None:
            rows = await self.db.fetchall(
                f"{_SELECT_WITH_OWNER} WHERE t.id > ? ORDER BY t.id LIMIT ?", (after, limit))
        else:
            rows = await self.db.fetchall(
                f"{_SELECT_WITH_OWNER} WHERE u.name = ? AND t.id > ? ORDER BY t.id LIMIT ?",
                (user, after, limit))
        return [ApiToken.from_row(r) for r in rows]

    async def token_by_hash(self, token_hash: str) -> tuple[ApiToken, int] | None:
        """The token and its owner's user id, whatever its state (the caller checks)."""
        row = await self.db.fetchone(f"{_SELECT_WITH_OWNER} WHERE t.token_hash = ?", (token_hash,))
        return None if row is None else (ApiToken.from_row(row), int(row["user_id"]))

    async def touch_token(self, token: ApiToken, now: float) -> None:
        if token.last_used_at is None or now - token.last_used_at > TOUCH_EVERY:
            await self.db.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?",
                                  (now, token.id))

    async def revoke_token(self, token_id: int) -> ApiToken:
        await self.db.execute(
            "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
            (time.time(), token_id))
        return await self.get_token(token_id)

    # UI sessions

    async def add_session(self, id_hash: str, user: User, csrf_token: str, address: str,
                          ttl: float) -> Session:
        now = time.time()
        async with self.db.write() as conn:
            await conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,))
            await conn.execute(
                "INSERT INTO sessions (id_hash, user_id, csrf_token, address, created_at,"
                " expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                (id_hash, user.id, csrf_token, address, now, now + ttl),
            )
        return Session(user.id, csrf_token, address, now, now + ttl)

    async def session(self, id_hash: str, now: float) -> Session | None:
        row = await self.db.fetchone(
            "SELECT user_id, csrf_token, address, created_at, expires_at FROM sessions"
            " WHERE id_hash = ? AND expires_at > ?", (id_hash, now))
        return None if row is None else Session(**dict(row))

    async def end_session(self, id_hash: str) -> None:
        await self.db.execute("DELETE FROM sessions WHERE id_hash = ?", (id_hash,))

    # login throttling

    async def locked_until(self, kind: str, key: str, now: float) -> float | None:
        row = await self.db.fetchone(
            "SELECT locked_until FROM login_failures WHERE kind = ? AND key = ?"
            " AND locked_until > ?", (kind, key, now))
        return None if row is None else float(row[0])

    async def record_failure(self, kind: str, key: str, *, now: float, window: float,
                             limit: int, lockout: float) -> Lockout:
        """Count a failed sign-in; the `limit`-th within `window` seconds locks the key."""
        async with self.db.write() as conn:
            cur = await conn.execute(
                "SELECT failures, first_at, locked_until FROM login_failures"
                " WHERE kind = ? AND key = ?", (kind, key))
            row = await cur.fetchone()
            stale = row is None or (now - row["first_at"] > window
                                    and (row["locked_until"] or 0) <= now)
            failures = 1 if stale else int(row["failures"]) + 1  # type: ignore[index]
            first_at = now if stale else float(row["first_at"])  # type: ignore[index]
            until = now + lockout if failures >= limit else None
            await conn.execute(
                "INSERT INTO login_failures (kind, key, failures, first_at, last_at,"
                " locked_until) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (kind, key) DO UPDATE"
                " SET failures = excluded.failures, first_at = excluded.first_at,"
                " last_at = excluded.last_at, locked_until = excluded.locked_until",
                (kind, key, failures, first_at, now, until),
            )
        return Lockout(kind, key, failures, until)

    async def clear_failures(self, kind: str, key: str) -> None:
        await self.db.execute("DELETE FROM login_failures WHERE kind = ? AND key = ?",
                              (kind, key))

    async def lockouts(self, now: float, *, after: tuple[str, str] = ("", ""),
                       limit: int = -1) -> list[Lockout]:
        """Locks in force by (kind, key), those after `after`; at most `limit`."""
        rows = await self.db.fetchall(
            "SELECT kind, key, failures, locked_until FROM login_failures"
            " WHERE locked_until > ? AND (kind, key) > (?, ?) ORDER BY kind, key LIMIT ?",
            (now, *after, limit))
        return [Lockout(**dict(r)) for r in rows]
