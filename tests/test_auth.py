"""Users, teams, roles, tokens, lockout and the audit trail, as a user of the API sees them."""

from __future__ import annotations

import asyncio
import stat
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from c66d.app import create_app
from c66d.auth import Identity, allowed
from c66d.auth.crypto import (
    hash_password,
    read_registry_token,
    sign_registry_token,
    verify_password,
)
from c66d.config import Config
from tests.support.auth import PASSWORD, STACK, add_team, add_user, api, bearer, cast, new_token
from tests.support.http import ADMIN, basic

Client = TestClient[Any, Any]


def test_allowed_follows_the_levels() -> None:
    viewer = Identity("v", roles={"shop": "read"})
    deployer = Identity("d", roles={"shop": "deploy", "*": "read"})
    admin = Identity("a", is_admin=True)
    read_token = Identity("a", is_admin=True, scope="read", via="token")
    assert allowed(None, "public", None) and not allowed(None, "user", None)
    assert allowed(viewer, "user", None) and allowed(viewer, "read", "shop")
    assert not allowed(viewer, "read", "other") and not allowed(viewer, "deploy", "shop")
    assert allowed(viewer, "read", None)  # a list: the handler filters
    assert not allowed(viewer, "deploy", None)  # needs deploy on at least one stack
    assert allowed(deployer, "deploy", "shop") and allowed(deployer, "read", "other")
    assert not allowed(deployer, "stack_admin", "shop") and not allowed(deployer, "admin", None)
    assert allowed(admin, "admin", None) and allowed(admin, "stack_admin", "any")
    assert allowed(read_token, "read", "any") and not allowed(read_token, "deploy", "any")


def test_passwords_are_scrypt_and_verify_in_constant_time() -> None:
    hashed = hash_password("correct horse", n=2**10)
    assert hashed.startswith("scrypt$1024$") and "correct horse" not in hashed
    assert verify_password("correct horse", hashed)
    assert not verify_password("correct hors", hashed)
    assert not verify_password("x", "garbage")


def test_registry_tokens_are_signed_and_expire() -> None:
    key, other = b"k" * 32, b"o" * 32
    access = [{"type": "repository", "name": "shop/web", "actions": ["pull"]}]
    token = sign_registry_token(key, "vera", access, ttl=60, now=1000.0)
    grant = read_registry_token(key, token, now=1010.0)
    assert grant is not None and grant.subject == "vera"
    assert grant.actions_on("shop/web") == {"pull"} and grant.actions_on("shop/db") == set()
    assert read_registry_token(other, token, now=1010.0) is None
    assert read_registry_token(key, token, now=2000.0) is None
    assert read_registry_token(key, token[:-2] + "xx", now=1010.0) is None


async def test_first_start_makes_admin_with_a_random_password_shown_once(
        config: Config, capsys: pytest.CaptureFixture[str]) -> None:
    app = create_app(config.replace(admin_password=""))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        out = capsys.readouterr().out
        path = config.data_dir / "keys" / "admin-password"
        password = path.read_text().strip()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert password in out and len(password) >= 16
        assert (await client.get("/api/v1/me", headers=basic("admin", password))).status == 200
        assert (await client.get("/api/v1/me", headers=ADMIN)).status == 401
    app = create_app(config.replace(admin_password=""))
    async with TestClient(TestServer(app, host="127.0.0.1")):
        assert password not in capsys.readouterr().out  # printed once only


async def test_admin_password_setting_is_kept_authoritative(config: Config) -> None:
    async with TestClient(TestServer(create_app(config), host="127.0.0.1")) as client:
        await api(client, "PUT", "/api/v1/users/admin", json={"password": "changed-password"})
        assert (await client.get("/api/v1/me", headers=ADMIN)).status == 401
    async with TestClient(TestServer(create_app(config), host="127.0.0.1")) as client:
        assert (await client.get("/api/v1/me", headers=ADMIN)).status == 200


async def test_roles_come_through_teams(client: Client) -> None:
    await add_user(client, "vera")
    await add_user(client, "dan")
    await add_team(client, "viewers", "viewer", ["vera", "dan"], [STACK])
    await add_team(client, "ops", "deployer", ["dan"], [STACK, "blog"])
    me = await api(client, "GET", "/api/v1/me", headers=basic("dan", PASSWORD))
    assert me["roles"] == {STACK: "deploy", "blog": "deploy"} and not me["admin"]
    me = await api(client, "GET", "/api/v1/me", headers=basic("vera", PASSWORD))
    assert me["roles"] == {STACK: "read"}
    await api(client, "GET", "/api/v1/users", headers=basic("vera", PASSWORD), status=403)
    await api(client, "PUT", "/api/v1/teams/viewers", json={"members": ["dan"]})
    me = await api(client, "GET", "/api/v1/me", headers=basic("vera", PASSWORD))
    assert me["roles"] == {}
    team = await api(client, "GET", "/api/v1/teams/ops")
    assert team["team"] == {"name": "ops", "role": "deployer", "members": ["dan"],
                            "stacks": ["blog", STACK]}
    await api(client, "DELETE", "/api/v1/users/dan")
    assert (await client.get("/api/v1/me", headers=basic("dan", PASSWORD))).status == 401


async def test_user_names_passwords_and_last_admin_are_checked(client: Client) -> None:
    bad = await api(client, "POST", "/api/v1/users", json={"name": "Bad Name"}, status=400)
    assert bad["error"]["detail"] == {"field": "name"}
    await api(client, "POST", "/api/v1/users", json={"name": "eve", "password": "short"},
              status=400)
    await api(client, "POST", "/api/v1/users", json={"name": "anonymous"}, status=400)
    made = await api(client, "POST", "/api/v1/users", json={"name": "eve"}, status=201)
    assert (await client.get("/api/v1/me", headers=basic("eve", made["password"]))).status == 200
    await api(client, "POST", "/api/v1/users", json={"name": "eve"}, status=409)
    await api(client, "DELETE", "/api/v1/users/admin", status=409)  # the last administrator


async def test_tokens_are_shown_once_scoped_revocable_and_expire(client: Client) -> None:
    await add_user(client, "vera")
    vera = basic("vera", PASSWORD)
    token = await new_token(client, vera, name="ci", scope="read")
    listed = await api(client, "GET", "/api/v1/tokens", headers=vera)
    assert [t["name"] for t in listed["items"]] == ["ci"]
    assert token not in str(listed)  # never shown again
    assert (await api(client, "GET", "/api/v1/me", headers=bearer(token)))["scope"] == "read"
    assert (await client.get("/api/v1/me", headers=basic("vera", token))).status == 200
    # a read token cannot mint a stronger one, nor change passwords
    await api(client, "POST", "/api/v1/tokens", headers=bearer(token),
              json={"name": "x", "scope": "admin"}, status=403)
    await api(client, "PUT", "/api/v1/me/password", headers=bearer(token),
              json={"current": PASSWORD, "password": "another-password"}, status=403)
    token_id = listed["items"][0]["id"]
    await api(client, "DELETE", f"/api/v1/tokens/{token_id}", headers=vera)
    refused = await api(client, "GET", "/api/v1/me", headers=bearer(token), status=401)
    assert "revoked" in refused["error"]["message"]

    short = await new_token(client, vera, name="short", expires_in=0.3)
    assert (await client.get("/api/v1/me", headers=bearer(short))).status == 200
    await asyncio.sleep(0.5)
    refused = await api(client, "GET", "/api/v1/me", headers=bearer(short), status=401)
    assert "expired" in refused["error"]["message"]
    states = {t["name"]: t["state"] for t in
              (await api(client, "GET", "/api/v1/tokens", headers=vera))["items"]}
    assert states == {"ci": "revoked", "short": "expired"}
    await api(client, "GET", "/api/v1/me", headers=bearer("c66d_nonsense"), status=401)


async def test_other_users_tokens_are_not_theirs_to_revoke(client: Client) -> None:
    await add_user(client, "vera")
    await add_user(client, "dan")
    await new_token(client, basic("vera", PASSWORD), name="vera's")
    listed = await api(client, "GET", "/api/v1/tokens?user=vera")
    token_id = listed["items"][0]["id"]
    await api(client, "GET", "/api/v1/tokens?user=vera", headers=basic("dan", PASSWORD),
              status=403)
    await api(client, "DELETE", f"/api/v1/tokens/{token_id}", headers=basic("dan", PASSWORD),
              status=404)


async def test_lockout_after_repeated_wrong_passwords(client: Client) -> None:
    admin = bearer(await new_token(client, ADMIN, name="admin"))  # tokens are not throttled
    await add_user(client, "vera")
    for _ in range(5):
        await api(client, "GET", "/api/v1/me", headers=basic("vera", "wrong-password"),
                  status=401)
    locked = await client.get("/api/v1/me", headers=basic("vera", PASSWORD))
    assert locked.status == 429 and int(locked.headers["Retry-After"]) > 800
    assert (await locked.json())["error"]["code"] == "LOCKED_OUT"
    assert (await client.get("/api/v1/me", headers=ADMIN)).status == 200  # others still can
    lockouts = (await api(client, "GET", "/api/v1/lockouts", headers=admin))["items"]
    assert [(x["kind"], x["key"], x["failures"]) for x in lockouts] == [("user", "vera", 5)]

    for n in range(15):  # guessing many names from one address locks the address
        await api(client, "GET", "/api/v1/me", headers=basic(f"guess{n}", "x"), status=401)
    assert (await client.get("/api/v1/me", headers=ADMIN)).status == 429
    lockouts = (await api(client, "GET", "/api/v1/lockouts", headers=admin))["items"]
    assert ("address", "127.0.0.1", 20) in [(x["kind"], x["key"], x["failures"])
                                            for x in lockouts]
    await api(client, "DELETE", "/api/v1/lockouts?kind=address&key=127.0.0.1", headers=admin)
    await api(client, "DELETE", "/api/v1/lockouts?kind=user&key=vera", headers=admin)
    assert (await client.get("/api/v1/me", headers=basic("vera", PASSWORD))).status == 200
    assert (await client.get("/api/v1/me", headers=ADMIN)).status == 200


async def test_every_change_is_in_the_audit_trail(client: Client) -> None:
    people = await cast(client)
    await api(client, "PUT", "/api/v1/teams/viewers", json={"stacks": [STACK, "blog"]})
    entries = (await api(client, "GET", "/api/v1/audit?limit=500"))["items"]
    actions = [(e["actor"], e["action"], e["target"]) for e in reversed(entries)]
    assert ("c66d", "user.create", "admin") in actions
    assert ("admin", "user.create", "vera") in actions
    assert ("admin", "team.create", "viewers") in actions
    assert ("admin", "team.update", "viewers") in actions
    assert any(a == ("vera", "token.create", a[2]) for a in actions)
    assert all(e["address"] == "127.0.0.1" for e in entries if e["actor"] != "c66d")
    only = (await api(client, "GET", "/api/v1/audit?action=team.&actor=admin"))["items"]
    assert {e["action"] for e in only} == {"team.create", "team.update"}
    page = await api(client, "GET", "/api/v1/audit?limit=2")
    rest = await api(client, "GET", f"/api/v1/audit?limit=2&cursor={page['next']}")
    assert rest["items"][0]["id"] < page["items"][-1]["id"]
    await api(client, "GET", "/api/v1/audit", headers=people.headers["stack_admin"],
              status=403)


async def test_stack_changes_are_recorded_under_the_person_who_made_them(client: Client) -> None:
    people = await cast(client)
    yml = "services:\n  web:\n    image: c66d-test/not-there:0\n"
    await api(client, "POST", "/api/v1/stacks", json={"name": STACK, "service_yml": yml},
              status=201)
    await api(client, "PUT", f"/api/v1/stacks/{STACK}/env", headers=people.headers["stack_admin"],
              json={"variables": [{"name": "COLOUR", "value": "blue"}]})
    entries = (await api(client, "GET", f"/api/v1/audit?stack={STACK}"))["items"]
    got = {(e["actor"], e["action"]) for e in entries}
    assert ("admin", "stack.create") in got and ("sam", "stack.env") in got
    env = next(e for e in entries if e["action"] == "stack.env")
    assert env["detail"]["token"] and env["address"] == "127.0.0.1"
    # a deployment names who started it (the image does not exist: it fails at the pull)
    started = await api(client, "POST", f"/api/v1/stacks/{STACK}/deployments",
                        headers=people.headers["deployer"], status=202)
    assert started["actor"] == "dan"
