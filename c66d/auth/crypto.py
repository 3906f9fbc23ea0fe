"""Password hashing (scrypt), API token minting, and signed registry tokens. Pure functions."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from c66d import jsonio

# scrypt cost: 16 MiB and ~50 ms per hash on a small server; stored with the hash so it can
# be raised later without breaking existing passwords.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
API_TOKEN_PREFIX = "c66d_"  # noqa: S105 - a prefix, not a secret
REGISTRY_TOKEN_PREFIX = "c66r."  # noqa: S105


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, *, n: int = SCRYPT_N) -> str:
    """`scrypt$N$r$p$salt$hash`."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=SCRYPT_R, p=SCRYPT_P,
                            maxmem=256 * 1024 * 1024, dklen=32)
    return f"scrypt${n}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time comparison against a stored hash; a malformed hash never matches."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=_unb64(salt), n=int(n), r=int(r),
                             p=int(p), maxmem=256 * 1024 * 1024, dklen=len(_unb64(digest)))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, _unb64(digest))


def random_password() -> str:
    return secrets.token_urlsafe(18)


def new_api_token() -> str:
    """A fresh API token: shown once to its owner, stored only as `token_hash`."""
    return API_TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class RegistryGrant:
    """What a registry token lets its holder do: actions per repository (Docker's scopes)."""

    subject: str  # user name, "anonymous", or the internal puller
    access: Mapping[str, frozenset[str]]  # repository name ('*' = all) -> {pull, push, delete}
    is_admin: bool
    expires_at: float

    def actions_on(self, repository: str) -> frozenset[str]:
        return self.access.get(repository, frozenset()) | self.access.get("*", frozenset())


def sign_registry_token(key: bytes, subject: str, access: Sequence[dict[str, Any]], *,
                        ttl: float, is_admin: bool = False, now: float | None = None) -> str:
    """A compact HMAC-signed token carrying the subject and Docker-style access entries."""
    issued = time.time() if now is None else now
    payload = {"sub": subject, "access": list(access), "adm": is_admin,
               "iat": int(issued), "exp": int(issued + ttl)}
    body = _b64(jsonio.dumpb(payload))
    signature = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    return f"{REGISTRY_TOKEN_PREFIX}{body}.{signature}"


def read_registry_token(key: bytes, token: str, *,
                        now: float | None = None) -> RegistryGrant | None:
    """The grant of a valid, unexpired token; None for anything else."""
    if not token.startswith(REGISTRY_TOKEN_PREFIX):
        return None
    body, _, signature = token[len(REGISTRY_TOKEN_PREFIX):].partition(".")
    expected = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, signature):
        return None
    try:
        payload = jsonio.loads(_unb64(body))
        access: dict[str, frozenset[str]] = {}
        for entry in payload["access"]:
            if entry.get("type") == "repository":
                name = str(entry["name"])
                access[name] = access.get(name, frozenset()) | frozenset(entry["actions"])
        grant = RegistryGrant(str(payload["sub"]), access, bool(payload["adm"]),
                              float(payload["exp"]))
    except (ValueError, KeyError, TypeError):
        return None
    if grant.expires_at <= (time.time() if now is None else now):
        return None
    return grant
