"""People pages for global admins (#8): users, teams with their roles on stacks, every token."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from c66d.auth import audit, signed_in
from c66d.auth.api import NAME, STACK_NAME, check_name, check_password, full_rights, token_json
from c66d.auth.crypto import hash_password, random_password
from c66d.errors import C66dError, Invalid, NotFound
from c66d.keys import STORE
from c66d.logs import SECRETS
from c66d.store.auth import TEAM_ROLES
from c66d.web.access import access
from c66d.web.uikit import form, number, render, see_other


def names(raw: str, pattern: Any, what: str) -> list[str]:
    """`a, b c` -> ["a", "b", "c"], each checked."""
    found = [n for n in raw.replace(",", " ").split() if n]
    bad = [n for n in found if not pattern.match(n)]
    if bad:
        raise Invalid(f"not valid {what}: {', '.join(bad)}", detail={"field": what})
    return found


async def _people(request: web.Request, *, status: int = 200, **extra: Any) -> web.Response:
    store = request.app[STORE]
    teams = await store.auth.teams()
    users = [{"user": u, "teams": [t.name for t in teams if u.name in t.members]}
             for u in await store.auth.users()]
    context = {"users": users, "teams": teams, "roles": TEAM_ROLES, "error": "",
               "new_password": "", "new_user": "",
               "tokens": [token_json(t) for t in await store.credentials.tokens(None)], **extra}
    return render(request, "people.html", context, status=status)


@access("admin", stack_param=None)
async def people_page(request: web.Request) -> web.Response:
    return await _people(request)


async def _refusable(request: web.Request, action: Any) -> web.StreamResponse:
    """Run a form action; a refused one re-renders the page with its message."""
    try:
        await action
    except C66dError as exc:
        if exc.status in (401, 403):
            raise
        return await _people(request, status=exc.status, error=exc.message)
    raise see_other("/admin/users")


@access("admin", stack_param=None)
async def create_user(request: web.Request) -> web.StreamResponse:
    data = await form(request)
    try:
        name = check_name(data.get("name", "").strip(), "user")
        typed = data.get("password", "")
        password = check_password(typed) if typed else random_password()
        SECRETS.add(password)
        hashed = await asyncio.to_thread(hash_password, password)
        admin = "admin" in data
        await request.app[STORE].auth.add_user(name, hashed, is_admin=admin)
    except C66dError as exc:
        return await _people(request, status=exc.status, error=exc.message)
    await audit(request, "user.create", target=name, detail={"admin": admin})
    if typed:
        raise see_other("/admin/users")
    return await _people(request, new_user=name, new_password=password)


@access("admin", stack_param=None)
async def update_user(request: web.Request) -> web.StreamResponse:
    full_rights(signed_in(request))
    name, data = request.match_info["user"], await form(request)

    async def apply() -> None:
        store = request.app[STORE]
        await store.auth.get_user(name)
        if data.get("password"):
            hashed = await asyncio.to_thread(hash_password, check_password(data["password"]))
            await store.auth.set_password(name, hashed)
            await audit(request, "user.password", target=name)
        admin = data.get("admin") == "on"
        if "admin-field" in data and admin != (await store.auth.get_user(name)).is_admin:
            await store.auth.set_admin(name, admin)
            await audit(request, "user.admin", target=name, detail={"admin": admin})

    return await _refusable(request, apply())


@access("admin", stack_param=None)
async def delete_user(request: web.Request) -> web.StreamResponse:
    name = request.match_info["user"]

    async def apply() -> None:
        await request.app[STORE].auth.remove_user(name)
        await audit(request, "user.delete", target=name)

    return await _refusable(request, apply())


def team_fields(data: dict[str, str]) -> dict[str, Any]:
    role = data.get("role", "viewer")
    if role not in TEAM_ROLES:
        raise Invalid(f"role must be one of {', '.join(TEAM_ROLES)}", detail={"field": "role"})
    return {"role": role, "members": names(data.get("members", ""), NAME, "members"),
            "stacks": names(data.get("stacks", ""), STACK_NAME, "stacks")}


@access("admin", stack_param=None)
async def create_team(request: web.Request) -> web.StreamResponse:
    data = await form(request)

    async def apply() -> None:
        name, fields = check_name(data.get("name", "").strip(), "team"), team_fields(data)
        store = request.app[STORE]
        await store.auth.add_team(name, fields.pop("role"))
        try:
            await store.auth.update_team(name, **fields)
        except C66dError:
            await store.auth.remove_team(name)  # nothing half-made
            raise
        await audit(request, "team.create", target=name, detail=fields)

    return await _refusable(request, apply())


@access("admin", stack_param=None)
async def update_team(request: web.Request) -> web.StreamResponse:
    name, data = request.match_info["team"], await form(request)

    async def apply() -> None:
        fields = team_fields(data)
        await request.app[STORE].auth.update_team(name, **fields)
        await audit(request, "team.update", target=name, detail=fields)

    return await _refusable(request, apply())


@access("admin", stack_param=None)
async def delete_team(request: web.Request) -> web.StreamResponse:
    name = request.match_info["team"]

    async def apply() -> None:
        await request.app[STORE].auth.remove_team(name)
        await audit(request, "team.delete", target=name)

    return await _refusable(request, apply())


@access("admin", stack_param=None)
async def revoke_token(request: web.Request) -> web.StreamResponse:
    store = request.app[STORE]
    token_id = number(request)

    async def apply() -> None:
        try:
            token = await store.credentials.revoke_token(token_id)
        except NotFound:
            raise NotFound(f"no token {token_id}") from None
        await audit(request, "token.revoke", target=f"{token.user}/{token.id}",
                    detail={"name": token.name})

    return await _refusable(request, apply())


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/admin/users", people_page, name="ui.people")
    r.add_post("/admin/users", create_user)
    r.add_post("/admin/users/{user}", update_user)
    r.add_post("/admin/users/{user}/delete", delete_user)
    r.add_post("/admin/teams", create_team)
    r.add_post("/admin/teams/{team}", update_team)
    r.add_post("/admin/teams/{team}/delete", delete_team)
    r.add_post("/admin/tokens/{id}/revoke", revoke_token)
