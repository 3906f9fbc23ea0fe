"""`/api/v1/users`, `/teams`, `/tokens`, `/audit`, `/lockouts`, `/me`: access control as JSON."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from aiohttp import web

from c66d.auth.audit import audit, signed_in
from c66d.auth.crypto import (
    hash_password,
    new_api_token,
    random_password,
    token_hash,
    verify_password,
)
from c66d.auth.identity import SCOPE_CAP, Identity
from c66d.auth.registry import RESERVED_NAMES
from c66d.errors import Forbidden, Invalid, NotFound
from c66d.keys import STORE
from c66d.logs import SECRETS
from c66d.store.auth import TEAM_ROLES, Team, User
from c66d.store.credentials import ApiToken
from c66d.web.access import access
from c66d.web.api import (
    decode_cursor,
    encode_cursor,
    int_cursor,
    json_response,
    page_body,
    page_params,
    paged,
    read_json,
)
from c66d.web.openapi import doc

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
STACK_NAME = re.compile(r"^(\*|[a-z0-9][a-z0-9_.-]{0,62})$")
MIN_PASSWORD = 8
DEFAULT_TOKEN_DAYS = 90


def check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise Invalid(f"{what} name must be 1-63 of a-z 0-9 _ . - starting with a letter or"
                      f" digit, got {name!r}", detail={"field": "name"})
    if what == "user" and name in RESERVED_NAMES:
        raise Invalid(f"the user name {name!r} is reserved", detail={"field": "name"})
    return name


def check_password(password: Any) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise Invalid(f"password must be at least {MIN_PASSWORD} characters",
                      detail={"field": "password"})
    SECRETS.add(password)
    return password


def flag(body: dict[str, Any], key: str) -> bool:
    """A true/false field (absent: false); anything else is refused, not read as truthy."""
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise Invalid(f"{key} must be true or false", detail={"field": key})
    return value


def user_json(user: User) -> dict[str, Any]:
    return {"name": user.name, "admin": user.is_admin, "created_at": user.created_at,
            "password_changed_at": user.password_changed_at}


def team_json(team: Team) -> dict[str, Any]:
    return {"name": team.name, "role": team.role, "members": list(team.members),
            "stacks": list(team.stacks)}


def token_json(token: ApiToken) -> dict[str, Any]:
    state = ("revoked" if token.revoked_at else
             "active" if token.usable(time.time()) else "expired")
    return {"id": token.id, "user": token.user, "name": token.name, "scope": token.scope,
            "state": state, "created_at": token.created_at, "expires_at": token.expires_at,
            "revoked_at": token.revoked_at, "last_used_at": token.last_used_at}


def full_rights(identity: Identity) -> None:
    """Credentials are managed with a password, a session or an admin-scope token only."""
    if identity.scope not in (None, "admin"):
        raise Forbidden(f"a {identity.scope}-scope token cannot manage credentials")


@access("user", stack_param=None)
async def me(request: web.Request) -> web.Response:
    identity = signed_in(request)
    return json_response({"name": identity.name, "admin": identity.is_admin,
                          "roles": dict(identity.roles), "scope": identity.scope,
                          "via": identity.via})


@access("user", stack_param=None)
@doc(body={"current": "string", "password": "string"})
async def change_own_password(request: web.Request) -> web.Response:
    identity = signed_in(request)
    full_rights(identity)
    body = await read_json(request)
    store = request.app[STORE]
    user = await store.auth.get_user(identity.name)
    current = body.get("current")
    if not isinstance(current, str) or not await asyncio.to_thread(
            verify_password, current, user.password_hash):
        raise Forbidden("the current password is wrong", detail={"field": "current"})
    hashed = await asyncio.to_thread(hash_password, check_password(body.get("password")))
    await store.auth.set_password(user.name, hashed)
    await audit(request, "user.password", target=user.name)
    return json_response({"ok": True})


@access("admin", stack_param=None)
@doc(paged=True)
async def list_users(request: web.Request) -> web.Response:
    """Users by name, paged (`cursor` = the last name seen)."""
    limit, cursor = page_params(request, default=100)
    users = await request.app[STORE].auth.users(after=cursor, limit=limit + 1)
    page, more = paged(users, limit, lambda u: u.name)
    return json_response(page_body([user_json(u) for u in page], more))


@access("admin", stack_param=None)
@doc(status=201, body={"name": "string", "password": "string", "admin": "boolean"})
async def create_user(request: web.Request) -> web.Response:
    body = await read_json(request)
    name = check_name(body.get("name"), "user")
    generated = body.get("password") is None
    password = random_password() if generated else check_password(body.get("password"))
    SECRETS.add(password)
    hashed = await asyncio.to_thread(hash_password, password)
    user = await request.app[STORE].auth.add_user(name, hashed,
                                                  is_admin=flag(body, "admin"))
    await audit(request, "user.create", target=name, detail={"admin": user.is_admin})
    out = {"user": user_json(user)}
    if generated:
        out["password"] = password  # type: ignore[assignment]  # shown once
    return json_response(out, status=201)


@access("admin", stack_param=None)
async def get_user(request: web.Request) -> web.Response:
    store = request.app[STORE]
    user = await store.auth.get_user(request.match_info["user"])
    teams = [t.name for t in await store.auth.teams() if user.name in t.members]
    return json_response({"user": user_json(user) | {"teams": teams}})


@access("admin", stack_param=None)
@doc(body={"password": "string", "admin": "boolean"})
async def update_user(request: web.Request) -> web.Response:
    full_rights(signed_in(request))
    name = request.match_info["user"]
    body = await read_json(request)
    store = request.app[STORE]
    await store.auth.get_user(name)
    if "password" in body:
        hashed = await asyncio.to_thread(hash_password, check_password(body["password"]))
        await store.auth.set_password(name, hashed)
        await audit(request, "user.password", target=name)
    if "admin" in body:
        await store.auth.set_admin(name, flag(body, "admin"))
        await audit(request, "user.admin", target=name, detail={"admin": bool(body["admin"])})
    return json_response({"user": user_json(await store.auth.get_user(name))})


@access("admin", stack_param=None)
async def delete_user(request: web.Request) -> web.Response:
    name = request.match_info["user"]
    await request.app[STORE].auth.remove_user(name)
    await audit(request, "user.delete", target=name)
    return json_response({"ok": True})


def _team_fields(body: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if "role" in body:
        if body["role"] not in TEAM_ROLES:
            raise Invalid(f"role must be one of {', '.join(TEAM_ROLES)}, got {body['role']!r}",
                          detail={"field": "role"})
        fields["role"] = body["role"]
    for key, pattern in (("members", NAME), ("stacks", STACK_NAME)):
        if key in body:
            values = body[key]
            if not isinstance(values, list) or not all(
                    isinstance(v, str) and pattern.match(v) for v in values):
                raise Invalid(f"{key} must be a list of names", detail={"field": key})
            fields[key] = values
    return fields


@access("admin", stack_param=None)
@doc(paged=True)
async def list_teams(request: web.Request) -> web.Response:
    """Teams by name with their role, members and stacks, paged."""
    limit, cursor = page_params(request, default=100)
    teams = await request.app[STORE].auth.teams(after=cursor, limit=limit + 1)
    page, more = paged(teams, limit, lambda t: t.name)
    return json_response(page_body([team_json(t) for t in page], more))


@access("admin", stack_param=None)
@doc(status=201, body={"name": "string", "role": "string", "members": "array", "stacks": "array"})
async def create_team(request: web.Request) -> web.Response:
    body = await read_json(request)
    name = check_name(body.get("name"), "team")
    fields = _team_fields({"role": body.get("role", "viewer"), **body})
    store = request.app[STORE]
    await store.auth.add_team(name, fields.pop("role"))
    team = await store.auth.update_team(name, **fields)
    await audit(request, "team.create", target=name, detail=team_json(team))
    return json_response({"team": team_json(team)}, status=201)


@access("admin", stack_param=None)
async def get_team(request: web.Request) -> web.Response:
    team = await request.app[STORE].auth.get_team(request.match_info["team"])
    return json_response({"team": team_json(team)})


@access("admin", stack_param=None)
@doc(body={"role": "string", "members": "array", "stacks": "array"})
async def update_team(request: web.Request) -> web.Response:
    name = request.match_info["team"]
    fields = _team_fields(await read_json(request))
    team = await request.app[STORE].auth.update_team(name, **fields)
    await audit(request, "team.update", target=name, detail=fields)
    return json_response({"team": team_json(team)})


@access("admin", stack_param=None)
async def delete_team(request: web.Request) -> web.Response:
    name = request.match_info["team"]
    await request.app[STORE].auth.remove_team(name)
    await audit(request, "team.delete", target=name)
    return json_response({"ok": True})


@access("user", stack_param=None)
@doc(paged=True, query={"user": "whose tokens (admins: a name or *; default: yours)"})
async def list_tokens(request: web.Request) -> web.Response:
    """API tokens (never their secret), oldest first, paged."""
    limit, cursor = page_params(request, default=100)
    after = int_cursor(cursor)
    identity = signed_in(request)
    wanted = request.query.get("user", identity.name)
    if wanted != identity.name and not identity.is_admin:
        raise Forbidden("only an administrator sees other users' tokens")
    tokens = await request.app[STORE].credentials.tokens(
        None if wanted == "*" else wanted, after=after, limit=limit + 1)
    page, more = paged(tokens, limit, lambda t: str(t.id))
    return json_response(page_body([token_json(t) for t in page], more))


def _token_request(body: dict[str, Any], identity: Identity) -> tuple[str, str, float | None]:
    name, scope = body.get("name"), body.get("scope", "read")
    if not isinstance(name, str) or not 1 <= len(name) <= 100:
        raise Invalid("a token needs a name (1-100 characters)", detail={"field": "name"})
    if scope not in SCOPE_CAP:
        raise Invalid("scope must be read, deploy or admin", detail={"field": "scope"})
    if identity.scope is not None and SCOPE_CAP[scope] > SCOPE_CAP[identity.scope]:
        raise Forbidden(f"a {identity.scope}-scope token cannot make a {scope}-scope token")
    days = body.get("expires_in_days", DEFAULT_TOKEN_DAYS)
    seconds = body.get("expires_in")
    if seconds is None and days is not None:
        seconds = float(days) * 86400 if isinstance(days, int | float) else -1
    if seconds is not None and (not isinstance(seconds, int | float) or seconds <= 0):
        raise Invalid("expires_in must be a positive number of seconds (or null: never)",
                      detail={"field": "expires_in"})
    return name, scope, None if seconds is None else time.time() + float(seconds)


@access("user", stack_param=None)
@doc(status=201, body={"name": "string", "scope": "string", "expires_in": "number"})
async def create_token(request: web.Request) -> web.Response:
    identity = signed_in(request)
    if identity.via in ("registry-token", "anonymous"):
        raise Forbidden("registry tokens cannot make API tokens")
    name, scope, expires_at = _token_request(await read_json(request), identity)
    store = request.app[STORE]
    user = await store.auth.get_user(identity.name)
    secret = new_api_token()
    SECRETS.add(secret)
    token = await store.credentials.add_token(user.id, name, token_hash(secret), scope,
                                              expires_at)
    await audit(request, "token.create", target=f"{user.name}/{token.id}",
                detail={"name": name, "scope": scope, "expires_at": expires_at})
    return json_response({"token": secret, "info": token_json(token)}, status=201)


@access("user", stack_param=None)
async def revoke_token(request: web.Request) -> web.Response:
    identity = signed_in(request)
    try:
        token_id = int(request.match_info["id"])
    except ValueError:
        raise NotFound(f"no token {request.match_info['id']}") from None
    store = request.app[STORE]
    token = await store.credentials.get_token(token_id)
    if token.user != identity.name and not identity.is_admin:
        raise NotFound(f"no token {token_id}")
    token = await store.credentials.revoke_token(token_id)
    await audit(request, "token.revoke", target=f"{token.user}/{token.id}",
                detail={"name": token.name})
    return json_response({"info": token_json(token)})


@access("admin", stack_param=None)
@doc(paged=True, query={
    "stack": "only this stack",
    "actor": "only this actor",
    "action": "action prefix",
    "since": "epoch seconds",
})
async def audit_log(request: web.Request) -> web.Response:
    """`?stack=&actor=&action=(prefix)&since=(epoch)&limit=&cursor=(id)`, newest first."""
    limit, cursor = page_params(request, default=100)
    q = request.query
    try:
        since = float(q["since"]) if q.get("since") else None
        before = int(cursor) if cursor else None
    except ValueError:
        raise Invalid("since and cursor must be numbers") from None
    entries = await request.app[STORE].auth.search_audit(
        stack=q.get("stack", ""), actor=q.get("actor", ""), action=q.get("action", ""),
        since=since, before=before, limit=limit + 1)
    page, more = paged(entries, limit, lambda e: str(e.id))
    return json_response(page_body(page, more))


@access("admin", stack_param=None)
@doc(paged=True)
async def list_lockouts(request: web.Request) -> web.Response:
    """Users and addresses locked out now (`kind`, `key`, `failures`, `locked_until`), paged."""
    limit, cursor = page_params(request, default=100)
    kind, key = (str(v) for v in decode_cursor(cursor, 2) or ("", ""))
    lockouts = await request.app[STORE].credentials.lockouts(
        time.time(), after=(kind, key), limit=limit + 1)
    page, more = paged(lockouts, limit, lambda lo: encode_cursor([lo.kind, lo.key]))
    return json_response(page_body(page, more))


@access("admin", stack_param=None)
async def clear_lockout(request: web.Request) -> web.Response:
    """`DELETE /api/v1/lockouts?kind=user&key=alice`: let a locked user or address try again."""
    kind, key = request.query.get("kind", ""), request.query.get("key", "")
    if kind not in ("user", "address") or not key:
        raise Invalid("give ?kind=user|address&key=NAME-OR-ADDRESS")
    await request.app[STORE].credentials.clear_failures(kind, key)
    await audit(request, "lockout.clear", target=f"{kind}:{key}")
    return json_response({"ok": True})


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v1/me", me, name="api.me")
    r.add_put("/api/v1/me/password", change_own_password, name="api.me.password")
    r.add_get("/api/v1/users", list_users, name="api.users")
    r.add_post("/api/v1/users", create_user)
    r.add_get("/api/v1/users/{user}", get_user, name="api.user")
    r.add_put("/api/v1/users/{user}", update_user)
    r.add_delete("/api/v1/users/{user}", delete_user)
    r.add_get("/api/v1/teams", list_teams, name="api.teams")
    r.add_post("/api/v1/teams", create_team)
    r.add_get("/api/v1/teams/{team}", get_team, name="api.team")
    r.add_put("/api/v1/teams/{team}", update_team)
    r.add_delete("/api/v1/teams/{team}", delete_team)
    r.add_get("/api/v1/tokens", list_tokens, name="api.tokens")
    r.add_post("/api/v1/tokens", create_token)
    r.add_delete("/api/v1/tokens/{id}", revoke_token, name="api.token")
    r.add_get("/api/v1/audit", audit_log, name="api.audit")
    r.add_get("/api/v1/lockouts", list_lockouts, name="api.lockouts")
    r.add_delete("/api/v1/lockouts", clear_lockout)
