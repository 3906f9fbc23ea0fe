"""UI sign-in: the login page, session cookies, CSRF on forms and API calls, logout, expiry."""

from __future__ import annotations

import asyncio
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiohttp.test_utils import TestClient, TestServer

from c66d.app import create_app
from c66d.config import Config
from tests.support.auth import PASSWORD, add_user
from tests.support.http import ADMIN, ADMIN_PASSWORD

Client = TestClient[Any, Any]
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def sign_in(client: Client, name: str, password: str, *, next_path: str = "/",
                  headers: dict[str, str] | None = None) -> Any:
    page = await client.get(f"/login?next={next_path}")
    token = CSRF.search(await page.text())
    assert token is not None
    return await client.post("/login", allow_redirects=False, headers=headers or {},
                             data={"name": name, "password": password, "next": next_path,
                                   "csrf_token": token.group(1)})


async def page_csrf(client: Client, path: str = "/account") -> str:
    resp = await client.get(path)
    assert resp.status == 200
    found = CSRF.search(await resp.text())
    assert found is not None
    return found.group(1)


async def test_pages_need_sign_in_and_come_back_after_it(client: Client) -> None:
    resp = await client.get("/account?tab=tokens", allow_redirects=False)
    assert resp.status == 302
    location = urlsplit(resp.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query) == {"next": ["/account?tab=tokens"]}
    wrong = await sign_in(client, "admin", "wrong-password")
    assert wrong.status == 401 and "Wrong user name or password" in await wrong.text()
    resp = await sign_in(client, "admin", ADMIN_PASSWORD, next_path="/account")
    assert resp.status == 303 and resp.headers["Location"] == "/account"
    cookie = resp.headers["Set-Cookie"]
    assert "c66d_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie
    page = await client.get("/account")
    assert page.status == 200 and "<h1>admin</h1>" in await page.text()
    assert "Log out" in await page.text()


async def test_session_cookie_is_secure_behind_tls(client: Client) -> None:
    resp = await sign_in(client, "admin", ADMIN_PASSWORD, headers={"X-Forwarded-Proto": "https"})
    assert resp.status == 303 and "Secure" in resp.headers["Set-Cookie"]


async def test_login_form_itself_needs_its_csrf_token(client: Client) -> None:
    await client.get("/login")
    resp = await client.post("/login", data={"name": "admin", "password": ADMIN_PASSWORD})
    assert resp.status == 403 and "c66d_session" not in resp.headers.get("Set-Cookie", "")


async def test_login_never_redirects_to_another_site(client: Client) -> None:
    resp = await sign_in(client, "admin", ADMIN_PASSWORD, next_path="//evil.example/x")
    assert resp.headers["Location"] == "/"


async def test_state_changes_with_a_session_need_the_csrf_token(client: Client) -> None:
    await sign_in(client, "admin", ADMIN_PASSWORD)
    token = await page_csrf(client)
    for sent in (None, "wrong-token"):
        form = {"name": "ci", "scope": "read", "days": "1"}
        if sent:
            form["csrf_token"] = sent
        resp = await client.post("/account/tokens", data=form)
        assert resp.status == 403 and "CSRF" in await resp.text()
        resp = await client.post("/api/v1/tokens", json={"name": "ci"},
                                 headers={"X-CSRF-Token": sent} if sent else {})
        assert resp.status == 403 and (await resp.json())["error"]["code"] == "CSRF"
    assert "ci" not in await (await client.get("/account")).text()

    resp = await client.post("/account/tokens", data={"name": "ci", "scope": "read",
                                                      "days": "1", "csrf_token": token})
    text = await resp.text()
    assert resp.status == 200 and 'class="new-token">c66d_' in text
    resp = await client.post("/api/v1/tokens", json={"name": "api"},
                             headers={"X-CSRF-Token": token})
    assert resp.status == 201
    listed = await (await client.get("/api/v1/tokens")).json()  # reads need no token
    assert [t["name"] for t in listed["items"]] == ["ci", "api"]
    token_id = listed["items"][0]["id"]
    resp = await client.post(f"/account/tokens/{token_id}/revoke",
                             data={"csrf_token": token})
    assert resp.status == 200 and resp.url.path == "/account"
    assert "revoked" in await resp.text()


async def test_logout_ends_the_session(client: Client) -> None:
    await sign_in(client, "admin", ADMIN_PASSWORD)
    token = await page_csrf(client)
    resp = await client.post("/logout", data={"csrf_token": token}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/login"
    assert (await client.get("/account", allow_redirects=False)).status == 302
    audit = await client.get("/api/v1/audit?action=session.",
                             headers=ADMIN)
    assert [e["action"] for e in (await audit.json())["items"]] == [
        "session.logout", "session.login"]


async def test_sessions_expire(config: Config) -> None:
    app = create_app(config.replace(session_ttl=1.0))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        await sign_in(client, "admin", ADMIN_PASSWORD)
        assert (await client.get("/account", allow_redirects=False)).status == 200
        await asyncio.sleep(1.2)
        assert (await client.get("/account", allow_redirects=False)).status == 302


async def test_admin_pages_refuse_other_users(client: Client) -> None:
    await add_user(client, "vera")
    await sign_in(client, "vera", PASSWORD)
    assert (await client.get("/account")).status == 200
    resp = await client.get("/admin/audit")
    assert resp.status == 403 and "text/html" in resp.headers["Content-Type"]


async def test_login_page_shows_lockout(client: Client) -> None:
    await add_user(client, "vera")
    for _ in range(5):
        assert (await sign_in(client, "vera", "wrong-password")).status == 401
    resp = await sign_in(client, "vera", PASSWORD)
    assert resp.status == 429 and "too many failed sign-ins" in await resp.text()
