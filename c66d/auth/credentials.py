"""Turning what a request carries (Basic, Bearer, session cookie) into an `Identity`."""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from functools import cache

from aiohttp import web

from c66d.auth.crypto import (
    API_TOKEN_PREFIX,
    REGISTRY_TOKEN_PREFIX,
    RegistryGrant,
    hash_password,
    read_registry_token,
    token_hash,
    verify_password,
)
from c66d.auth.identity import EVERY_STACK, RANK, Identity, roles_from_teams
from c66d.auth.state import AUTH, FAILURE_LIMIT, FAILURE_WINDOW, LOCKOUT, AuthState, LockedOut
from c66d.errors import Unauthorized
from c66d.keys import STORE
from c66d.logs import get_logger
from c66d.store import Store
from c66d.store.auth import User
from c66d.store.credentials import Session

SESSION_COOKIE = "c66d_session"
ANONYMOUS = "anonymous"
SESSION = web.RequestKey("session", Session)
log = get_logger("c66d.auth")


@cache
def _dummy_hash() -> str:
    return hash_password("not a password")


def client_address(request: web.Request) -> str:
    return request.remote or ""


async def identity_of_user(store: Store, user: User, *, via: str, scope: str | None = None,
                           token_id: int | None = None) -> Identity:
    roles = roles_from_teams(await store.auth.roles_of(user.id))
    return Identity(name=user.name, is_admin=user.is_admin, roles=roles, scope=scope, via=via,
                    token_id=token_id)


async def _check_password(state: AuthState, user: User | None, password: str) -> bool:
    stored = user.password_hash if user is not None else _dummy_hash()
    ok = await asyncio.to_thread(verify_password, password, stored)
    if ok and user is not None:
        state.remember(user.id, user.password_hash, password)
    return ok and user is not None


async def password_sign_in(app: web.Application, name: str, password: str,
                           address: str) -> User:
    """The user, or Unauthorized / LockedOut; failures are counted per user and address."""
    store, now = app[STORE], time.time()
    for kind, key in (("user", name), ("address", address)):
        until = await store.credentials.locked_until(kind, key, now)
        if until is not None:
            log.warning("sign-in refused: %s %s is locked out", kind, key)
            raise LockedOut(f"too many failed sign-ins for this {kind}; try again later",
                            retry_after=until - now)
    user = await store.auth.find_user(name)
    if user is not None and app[AUTH].recently_verified(user.id, user.password_hash, password):
        return user  # a script sending Basic on every request: no hashing, no write
    if not await _check_password(app[AUTH], user, password):
        for kind, key in (("user", name), ("address", address)):
            state = await store.credentials.record_failure(
                kind, key, now=now, window=FAILURE_WINDOW, limit=FAILURE_LIMIT[kind],
                lockout=LOCKOUT)
            if state.locked_until is not None:
                log.warning("%s %s locked out after %d failed sign-ins",
                            kind, key, state.failures)
        log.info("failed sign-in for user %s from %s", name, address)
        raise Unauthorized("wrong user name or password")
    assert user is not None
    await store.credentials.clear_failures("user", name)
    return user


async def token_identity(app: web.Application, token: str) -> Identity:
    store, now = app[STORE], time.time()
    found = await store.credentials.token_by_hash(token_hash(token))
    if found is None:
        raise Unauthorized("unknown API token")
    api_token, user_id = found
    if api_token.revoked_at is not None:
        raise Unauthorized("this API token was revoked")
    if not api_token.usable(now):
        raise Unauthorized("this API token has expired")
    user = await store.auth.user_by_id(user_id)
    if user is None:
        raise Unauthorized("unknown API token")
    await store.credentials.touch_token(api_token, now)
    return await identity_of_user(store, user, scope=api_token.scope, via="token",
                                  token_id=api_token.id)


def grant_identity(grant: RegistryGrant) -> Identity:
    """A registry token's holder: its grants become stack roles (pull=read, push=deploy)."""
    ranks: dict[str, str] = {}
    for repository, actions in grant.access.items():
        stack = EVERY_STACK if repository == "*" else repository.split("/")[0]
        level = ("stack_admin" if actions & {"delete", "*"} else
                 "deploy" if "push" in actions else "read" if "pull" in actions else None)
        if level and RANK[level] > RANK[ranks.get(stack, "user")]:
            ranks[stack] = level
    via = "anonymous" if grant.subject == ANONYMOUS else "registry-token"
    return Identity(name=grant.subject, is_admin=grant.is_admin, roles=ranks, via=via)


def _registry_grant(app: web.Application, token: str, registry: bool) -> RegistryGrant:
    grant = read_registry_token(app[AUTH].registry_key, token) if registry else None
    if grant is None:
        raise Unauthorized("invalid or expired registry token")
    return grant


async def basic_identity(request: web.Request, name: str, secret: str,
                         registry: bool) -> Identity:
    app = request.app
    if secret.startswith(API_TOKEN_PREFIX):
        identity = await token_identity(app, secret)
        if identity.name != name:
            raise Unauthorized("this API token belongs to another user")
        return identity
    if secret.startswith(REGISTRY_TOKEN_PREFIX):
        grant = _registry_grant(app, secret, registry)
        if grant.subject != name:
            raise Unauthorized("this registry token belongs to another user")
        return grant_identity(grant)
    user = await password_sign_in(app, name, secret, client_address(request))
    return await identity_of_user(app[STORE], user, via="password")


def parse_basic(value: str) -> tuple[str, str]:
    try:
        name, sep, secret = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("malformed Basic credentials") from None
    if not sep:
        raise Unauthorized("malformed Basic credentials")
    return name, secret


async def session_identity(request: web.Request) -> Identity | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    store = request.app[STORE]
    session = await store.credentials.session(token_hash(cookie), time.time())
    if session is None:
        return None
    user = await store.auth.user_by_id(session.user_id)
    if user is None:
        return None
    request[SESSION] = session
    return await identity_of_user(store, user, via="session")


async def authenticate(request: web.Request, *, registry: bool) -> Identity | None:
    """The caller's identity; None when none is claimed; Unauthorized when a claim is bad."""
    header = request.headers.get("Authorization", "").strip()
    if not header:
        return await session_identity(request)
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "basic":
        name, secret = parse_basic(value)
        return await basic_identity(request, name, secret, registry)
    if scheme.lower() == "bearer":
        if value.startswith(REGISTRY_TOKEN_PREFIX):
            return grant_identity(_registry_grant(request.app, value, registry))
        return await token_identity(request.app, value)
    raise Unauthorized(f"unsupported Authorization scheme {scheme!r}; use Basic or Bearer")
