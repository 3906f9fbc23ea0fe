"""The access matrix: every route of the whole app, for anonymous, viewer, deployer, stack admin
and global admin, is allowed or refused exactly as its declared level says.

Routes are read from `create_app(config).router`, so a route someone adds later is covered
without touching this file; a route without an `@access` declaration fails here.
"""

from __future__ import annotations

import string
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from c66d.app import create_app
from c66d.config import Config
from c66d.web.access import Access, required_access
from tests.support.auth import OTHER_STACK, STACK, cast
from tests.support.http import ADMIN

Client = TestClient[Any, Any]
PEOPLE = ("anonymous", "viewer", "deployer", "stack_admin", "admin")
# Who each level lets in, on the stack named in the path (or, without one, anywhere).
ALLOWED = {
    "public": set(PEOPLE),
    "user": {"viewer", "deployer", "stack_admin", "admin"},
    "read": {"viewer", "deployer", "stack_admin", "admin"},
    "deploy": {"deployer", "stack_admin", "admin"},
    "stack_admin": {"stack_admin", "admin"},
    "admin": {"admin"},
}
# On a stack the people have no role on, only the global admin gets past a stack level.
ALLOWED_ELSEWHERE = {**ALLOWED, "read": {"admin"}, "deploy": {"admin"},
                     "stack_admin": {"admin"}}
PLACEHOLDERS = {"id": "999999", "digest": "sha256:" + "0" * 64, "reference": "matrix",
                "uuid": "00000000-0000-0000-0000-000000000000", "tag": "matrix"}


def declared(route: web.AbstractRoute) -> Access | None:
    if isinstance(route.resource, web.StaticResource):
        return Access("public", None)  # every static asset is public
    return required_access(route.handler)


def path_for(route: web.AbstractRoute, access: Access, stack: str) -> str:
    resource = route.resource
    assert resource is not None
    if isinstance(resource, web.StaticResource):
        return resource.canonical + "/c66d.css"
    params = {}
    for name in _params(resource.canonical):
        if name == access.stack_param:
            params[name] = f"{stack}/app" if name == "name" else stack
        else:
            params[name] = PLACEHOLDERS.get(name, "matrix-x")
    return resource.canonical.format_map(params)


def _params(template: str) -> list[str]:
    return [f for _, f, _, _ in string.Formatter().parse(template) if f]


async def refused(resp: aiohttp.ClientResponse) -> str | None:
    """How the auth layer refused (401, login redirect, 403), or None if it let the request in.

    The auth layer's refusals name the level needed (`detail.needs`); a handler's own 401/403
    (a bad webhook signature, a wrong current password) does not count as a refusal.
    """
    if resp.status in (302, 303) and resp.headers.get("Location", "").startswith("/login?"):
        return "login"
    if resp.status not in (401, 403):
        return None
    if resp.method != "HEAD" and "needs" not in await resp.text():
        return None
    if resp.status == 401 and resp.url.path.startswith("/v2") and (
            not resp.headers.get("WWW-Authenticate", "").startswith("Bearer realm=")):
        return "401 without a registry challenge"
    return str(resp.status)


async def probe(client: Client, method: str, path: str, headers: dict[str, str]) -> str | None:
    timeout = aiohttp.ClientTimeout(total=15)
    async with client.request(method, path, headers=headers, allow_redirects=False,
                              timeout=timeout) as resp:
        return await refused(resp)


def expected(person: str, allowed: set[str], door: str) -> str | None:
    if person in allowed:
        return None
    if person == "anonymous":
        return "login" if door == "ui" else "401"
    return "403"


def door_of(path: str) -> str:
    return "registry" if path.startswith("/v2") else "api" if path.startswith("/api/") else "ui"


async def test_every_route_declares_its_access(client: Client) -> None:
    undeclared = [f"{r.method} {r.resource.canonical if r.resource else r}"
                  for r in client.app.router.routes() if declared(r) is None]
    assert undeclared == [], "routes without @access(...): " + ", ".join(undeclared)


async def test_every_route_allows_and_refuses_as_declared(client: Client) -> None:
    people = await cast(client)
    wrong: list[str] = []
    checked = 0
    for route in list(client.app.router.routes()):
        access = declared(route)
        if access is None:
            continue  # reported by test_every_route_declares_its_access
        method = "GET" if route.method == "*" else route.method
        cases = [(STACK, ALLOWED)]
        if access.stack_param and f"{{{access.stack_param}}}" in (route.resource.canonical
                                                                   if route.resource else ""):
            cases.append((OTHER_STACK, ALLOWED_ELSEWHERE))
        for stack, table in cases:
            path = path_for(route, access, stack)
            for person in PEOPLE:
                got = await probe(client, method, path, people.headers[person])
                want = expected(person, table[access.level], door_of(path))
                checked += 1
                if got != want:
                    wrong.append(f"{method} {path} as {person} (declared {access.level}):"
                                 f" got {got or 'allowed'}, want {want or 'allowed'}")
    assert not wrong, "\n".join(wrong)
    assert checked > 300


async def test_a_route_without_a_declaration_is_refused_even_to_the_admin(
        config: Config) -> None:
    async def undeclared(request: web.Request) -> web.Response:
        return web.Response(text="should never be served")

    app = create_app(config)
    app.router.add_get("/api/v1/undeclared", undeclared)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        resp = await client.get("/api/v1/undeclared", headers=ADMIN)
        assert resp.status == 403
        assert "declares no access" in (await resp.json())["error"]["message"]
