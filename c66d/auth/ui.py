"""UI sign-in: `/login`, `/logout`, the session cookie, and what templates see of the caller."""

from __future__ import annotations

import hmac
import secrets
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from c66d.auth.audit import audit, signed_in
from c66d.auth.credentials import SESSION, SESSION_COOKIE, client_address, password_sign_in
from c66d.auth.crypto import token_hash
from c66d.auth.identity import IDENTITY
from c66d.auth.middleware import CSRF_FIELD, current_csrf, current_identity
from c66d.auth.state import LockedOut
from c66d.errors import Unauthorized
from c66d.keys import CONFIG, STORE
from c66d.web.access import access

# Double-submit cookie protecting the login form itself (there is no session yet).
LOGIN_CSRF_COOKIE = "c66d_login_csrf"


def is_https(request: web.Request) -> bool:
    return request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def safe_next(target: str) -> str:
    """Only local paths: an open redirect to another site is refused."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _cookie_options(request: web.Request) -> dict[str, Any]:
    return {"httponly": True, "samesite": "Lax", "secure": is_https(request), "path": "/"}


def _login_page(request: web.Request, *, next_path: str, error: str = "", name: str = "",
                status: int = 200) -> web.Response:
    login_csrf = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = aiohttp_jinja2.render_template(
        "login.html", request,
        {"next": next_path, "error": error, "name": name, "login_csrf": login_csrf},
        status=status)
    response.set_cookie(LOGIN_CSRF_COOKIE, login_csrf, max_age=3600, **_cookie_options(request))
    return response


@access("public", stack_param=None)
async def login_form(request: web.Request) -> web.Response:
    return _login_page(request, next_path=safe_next(request.query.get("next", "/")))


@access("public", stack_param=None)
async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name, password = str(form.get("name", "")), str(form.get("password", ""))
    next_path = safe_next(str(form.get("next", "/")))
    sent, expected = str(form.get(CSRF_FIELD, "")), request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        return _login_page(request, next_path=next_path, name=name, status=403,
                           error="The form expired; please sign in again.")
    try:
        user = await password_sign_in(request.app, name, password, client_address(request))
    except LockedOut as exc:
        return _login_page(request, next_path=next_path, name=name, status=429,
                           error=f"{exc.message} ({exc.detail['retry_after']} s).")
    except Unauthorized:
        return _login_page(request, next_path=next_path, name=name, status=401,
                           error="Wrong user name or password.")
    cookie = secrets.token_urlsafe(32)
    ttl = request.app[CONFIG].session_ttl
    await request.app[STORE].credentials.add_session(
        token_hash(cookie), user, secrets.token_urlsafe(32), client_address(request), ttl)
    await request.app[STORE].audit.record(user.name, "session.login",
                                          address=client_address(request))
    response = web.HTTPSeeOther(next_path)
    response.set_cookie(SESSION_COOKIE, cookie, max_age=int(ttl), **_cookie_options(request))
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/")
    raise response


@access("user", stack_param=None)
async def logout(request: web.Request) -> web.StreamResponse:
    signed_in(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie and request.get(SESSION) is not None:
        await request.app[STORE].credentials.end_session(token_hash(cookie))
        await audit(request, "session.logout")
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


def template_globals() -> dict[str, Any]:
    """`current_user()` (name or None) and `csrf_token()` for every template."""

    def current_user() -> str | None:
        identity = current_identity.get()
        return None if identity is None or identity.anonymous else identity.name

    return {"current_user": current_user, "csrf_token": current_csrf.get,
            "csrf_field": CSRF_FIELD}


def setup(app: web.Application) -> None:
    app.router.add_get("/login", login_form, name="ui.login")
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout, name="ui.logout")
    aiohttp_jinja2.get_env(app).globals.update(template_globals())


__all__ = ["IDENTITY", "setup"]
