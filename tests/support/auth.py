"""Users with roles on a stack, for tests of who may do what."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient

from tests.support.http import ADMIN, basic

STACK = "shop"
OTHER_STACK = "elsewhere"
PASSWORD = "a-long-enough-password"
# Team role -> the user who holds it on STACK; "admin" is the global administrator.
ROLE_USERS = {"viewer": "vera", "deployer": "dan", "admin": "sam"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class Cast:
    """Headers per person: anonymous, viewer, deployer, stack admin, global admin."""

    headers: dict[str, dict[str, str]]
    passwords: dict[str, str]


async def api(client: TestClient[Any, Any], method: str, path: str, *,
              headers: dict[str, str] | None = None, json: Any = None,
              status: int = 200) -> Any:
    resp = await client.request(method, path, headers=headers or ADMIN, json=json)
    body = await resp.json()
    assert resp.status == status, (method, path, resp.status, body)
    return body


async def add_user(client: TestClient[Any, Any], name: str, password: str = PASSWORD,
                   *, admin: bool = False) -> None:
    await api(client, "POST", "/api/v1/users",
              json={"name": name, "password": password, "admin": admin}, status=201)


async def add_team(client: TestClient[Any, Any], name: str, role: str, members: list[str],
                   stacks: list[str]) -> None:
    await api(client, "POST", "/api/v1/teams",
              json={"name": name, "role": role, "members": members, "stacks": stacks},
              status=201)


async def new_token(client: TestClient[Any, Any], headers: dict[str, str], *,
                    name: str = "t", scope: str = "admin",
                    expires_in: float | None = 3600) -> str:
    body = await api(client, "POST", "/api/v1/tokens", headers=headers,
                     json={"name": name, "scope": scope, "expires_in": expires_in}, status=201)
    token: str = body["token"]
    return token


async def cast(client: TestClient[Any, Any]) -> Cast:
    """viewer/deployer/stack_admin on STACK through teams, plus a global admin, each with an
    admin-scope API token (fast: no password hashing per request)."""
    headers: dict[str, dict[str, str]] = {"anonymous": {}}
    for role, user in ROLE_USERS.items():
        await add_user(client, user)
        await add_team(client, f"{role}s", role, [user], [STACK])
        level = {"viewer": "viewer", "deployer": "deployer", "admin": "stack_admin"}[role]
        headers[level] = bearer(await new_token(client, basic(user, PASSWORD)))
    await add_user(client, "root2", admin=True)
    headers["admin"] = bearer(await new_token(client, basic("root2", PASSWORD)))
    return Cast(headers, {u: PASSWORD for u in [*ROLE_USERS.values(), "root2"]})
