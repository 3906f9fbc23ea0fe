"""UI pages for people: `/account` (your roles and API tokens) and `/admin/audit`."""

from __future__ import annotations

import time
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from c66d.auth.api import token_json
from c66d.auth.audit import audit, signed_in
from c66d.auth.crypto import new_api_token, token_hash
from c66d.auth.identity import SCOPE_CAP
from c66d.errors import Invalid, NotFound
from c66d.keys import STORE
from c66d.logs import SECRETS
from c66d.web.access import access


async def _account(request: web.Request, **extra: Any) -> web.Response:
    identity = signed_in(request)
    tokens = await request.app[STORE].credentials.tokens(identity.name)
    context = {"identity": identity, "tokens": [token_json(t) for t in tokens],
               "scopes": list(SCOPE_CAP), **extra}
    return aiohttp_jinja2.render_template("account.html", request, context)


@access("user", stack_param=None)
async def account(request: web.Request) -> web.Response:
    return await _account(request)


@access("user", stack_param=None)
async def create_token_form(request: web.Request) -> web.Response:
    """Form version of POST /api/v1/tokens: the new token is shown on this page only."""
    identity = signed_in(request)
    form = await request.post()
    name, scope = str(form.get("name", "")).strip(), str(form.get("scope", "read"))
    try:
        days = float(str(form.get("days", "90")))
    except ValueError:
        days = -1
    if not name or scope not in SCOPE_CAP or days <= 0:
        raise Invalid("a token needs a name, a scope (read, deploy, admin) and days > 0")
    store = request.app[STORE]
    user = await store.auth.get_user(identity.name)
    secret = new_api_token()
    SECRETS.add(secret)
    token = await store.credentials.add_token(user.id, name, token_hash(secret), scope,
                                              time.time() + days * 86400)
    await audit(request, "token.create", target=f"{user.name}/{token.id}",
                detail={"name": name, "scope": scope})
    return await _account(request, new_token=secret, new_token_name=name)


@access("user", stack_param=None)
async def revoke_token_form(request: web.Request) -> web.StreamResponse:
    identity = signed_in(request)
    store = request.app[STORE]
    try:
        token = await store.credentials.get_token(int(request.match_info["id"]))
    except ValueError:
        raise NotFound("no such token") from None
    if token.user != identity.name:
        raise NotFound("no such token")
    await store.credentials.revoke_token(token.id)
    await audit(request, "token.revoke", target=f"{token.user}/{token.id}",
                detail={"name": token.name})
    raise web.HTTPSeeOther("/account")


@access("admin", stack_param=None)
@aiohttp_jinja2.template("audit.html")
async def audit_page(request: web.Request) -> dict[str, Any]:
    q = request.query
    filters = {k: q.get(k, "") for k in ("stack", "actor", "action")}
    store = request.app[STORE]
    entries = await store.auth.search_audit(stack=filters["stack"], actor=filters["actor"],
                                             action=filters["action"], limit=200)
    return {"entries": entries, "filters": filters,
            "lockouts": await store.credentials.lockouts(time.time()),
            "at": lambda t: time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))}


def setup(app: web.Application) -> None:
    app.router.add_get("/account", account, name="ui.account")
    app.router.add_post("/account/tokens", create_token_form)
    app.router.add_post("/account/tokens/{id}/revoke", revoke_token_form)
    app.router.add_get("/admin/audit", audit_page, name="ui.audit")
