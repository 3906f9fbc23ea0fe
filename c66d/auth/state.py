"""The auth subsystem's shared state on the app, its errors, and its signing key."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from c66d.errors import C66dError

# Failed password sign-ins within WINDOW seconds that lock a user name, or a client address
# (which may be shared by many people, hence more), for LOCKOUT seconds.
FAILURE_LIMIT = {"user": 5, "address": 20}
FAILURE_WINDOW = 15 * 60.0
LOCKOUT = 15 * 60.0
REGISTRY_TOKEN_TTL = 15 * 60.0
_CACHE_TTL = 300.0
_CACHE_MAX = 1024


class LockedOut(C66dError):
    """Too many failed sign-ins for this user or from this address."""

    status = 429
    code = "LOCKED_OUT"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message, detail={"retry_after": int(retry_after) + 1})
        self.headers = {"Retry-After": str(int(retry_after) + 1)}


@dataclass
class AuthState:
    """The registry token key and a short-lived cache of successful password checks.

    scrypt costs ~50 ms, too much for a script sending Basic credentials on every request; the
    cache maps a keyed hash of (user, stored hash, password) to an expiry, so it never holds a
    password and a password change invalidates it.
    """

    registry_key: bytes
    _cache_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    _verified: dict[bytes, float] = field(default_factory=dict)

    def _entry(self, user_id: int, stored_hash: str, password: str) -> bytes:
        text = f"{user_id}\0{stored_hash}\0{password}".encode()
        return hmac.new(self._cache_key, text, hashlib.sha256).digest()

    def recently_verified(self, user_id: int, stored_hash: str, password: str) -> bool:
        expiry = self._verified.get(self._entry(user_id, stored_hash, password))
        return expiry is not None and expiry > time.monotonic()

    def remember(self, user_id: int, stored_hash: str, password: str) -> None:
        if len(self._verified) >= _CACHE_MAX:
            self._verified.clear()
        self._verified[self._entry(user_id, stored_hash, password)] = (
            time.monotonic() + _CACHE_TTL)


AUTH = web.AppKey("auth", AuthState)


def load_or_create_key(path: Path) -> bytes:
    """A 32-byte key kept in the data directory (mode 0600), made on first use."""
    try:
        data = path.read_bytes()
        if len(data) >= 32:
            return data
    except FileNotFoundError:
        pass
    data = secrets.token_bytes(32)
    write_private(path, data)
    return data


def write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner can read, never readable by others even for a moment."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)
