"""The door keeper: every request is matched to its route's declared access and let through
only when `allowed` says so; session-cookie requests that change state must carry the CSRF
token."""

from __future__ import annotations

import contextvars
import hmac
from typing import Any
from urllib.parse import quote

from aiohttp import web

from c66d.auth.credentials import SESSION, authenticate
from c66d.auth.identity import IDENTITY, Identity, allowed
from c66d.errors import Forbidden, Unauthorized
from c66d.keys import CONFIG
from c66d.logs import get_logger
from c66d.web.access import Access, required_access
from c66d.web.errors import door

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
REGISTRY_ACTIONS = {"read": "pull", "deploy": "pull,push", "stack_admin": "delete"}
# The identity and CSRF token of the request being handled, for templates (see `ui.py`).
current_identity: contextvars.ContextVar[Identity | None] = contextvars.ContextVar(
    "c66d_identity", default=None)
current_csrf: contextvars.ContextVar[str] = contextvars.ContextVar("c66d_csrf", default="")
log = get_logger("c66d.auth")


class CsrfRefused(Forbidden):
    code = "CSRF"


def route_access(request: web.Request) -> Access | None:
    """The matched route's declaration; static files and unmatched paths are public."""
    route = request.match_info.route
    if isinstance(route.resource, web.StaticResource):
        return Access("public", None)
    if getattr(request.match_info, "http_exception", None) is not None:
        return Access("public", None)  # no route matched: let the 404/405 through
    return required_access(route.handler)


def stack_of(request: web.Request, declared: Access) -> str | None:
    """The stack a route acts on: its `stack_param` (first path segment for registry names)."""
    if not declared.stack_param:
        return None
    value = request.match_info.get(declared.stack_param)
    return value.split("/")[0] if value else None


def base_url(request: web.Request) -> str:
    configured = request.app[CONFIG].public_url.rstrip("/")
    if configured:
        return configured
    proto = request.headers.get("X-Forwarded-Proto", request.scheme)
    return f"{proto}://{request.host}"


def registry_challenge(request: web.Request, declared: Access | None,
                       error: str = "") -> dict[str, str]:
    """Docker's token-auth challenge: where to get a token and for what."""
    parts = [f'realm="{base_url(request)}/v2/token"', 'service="c66d"']
    if declared and declared.stack_param and declared.level in REGISTRY_ACTIONS:
        name = request.match_info.get(declared.stack_param, "")
        if name:
            parts.append(f'scope="repository:{name}:{REGISTRY_ACTIONS[declared.level]}"')
    if error:
        parts.append(f'error="{error}"')
    return {"WWW-Authenticate": "Bearer " + ",".join(parts)}


def _refusal(request: web.Request, identity: Identity | None, declared: Access,
             stack: str | None) -> Exception:
    which = door(request)
    if identity is None or identity.anonymous:
        if which == "ui":
            return web.HTTPFound("/login?next=" + quote(request.path_qs, safe="/"))
        exc = Unauthorized("sign-in is required", detail={"needs": declared.level})
        if which == "registry":
            exc.headers = registry_challenge(request, declared)  # type: ignore[attr-defined]
        return exc
    where = f" on stack {stack!r}" if stack else ""
    return Forbidden(f"{identity.name} may not do this: it needs {declared.level}{where}",
                     detail={"needs": declared.level, "stack": stack})


async def check_csrf(request: web.Request) -> None:
    """A state change made with a session cookie must echo the session's CSRF token."""
    session = request[SESSION]
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent and request.content_type in ("application/x-www-form-urlencoded",
                                             "multipart/form-data"):
        form = await request.post()
        sent = str(form.get(CSRF_FIELD, ""))
    if not sent or not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
        log.warning("CSRF token missing or wrong on %s %s", request.method, request.path)
        raise CsrfRefused("missing or wrong CSRF token; reload the page and try again")


def _anonymous_pull(request: web.Request, declared: Access) -> bool:
    return (door(request) == "registry" and declared.level == "read"
            and request.method in SAFE_METHODS and request.app[CONFIG].registry_anonymous_pull)


async def _identify(request: web.Request) -> Identity | None:
    try:
        return await authenticate(request, registry=door(request) == "registry")
    except Unauthorized as exc:
        if door(request) == "registry":
            exc.headers = registry_challenge(  # type: ignore[attr-defined]
                request, route_access(request), "invalid_token")
        raise


@web.middleware
async def auth_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    declared = route_access(request)
    if declared is None:
        log.error("route %s %s declares no access; refused", request.method, request.path)
        raise Forbidden("this route declares no access level")
    identity = await _identify(request)
    if identity is not None:
        request[IDENTITY] = identity
    stack = stack_of(request, declared)
    if not (allowed(identity, declared.level, stack) or _anonymous_pull(request, declared)):
        raise _refusal(request, identity, declared, stack)
    session = request.get(SESSION)
    if session is not None and request.method not in SAFE_METHODS:
        await check_csrf(request)
    identity_token = current_identity.set(identity)
    csrf_token = current_csrf.set(session.csrf_token if session else "")
    try:
        response: web.StreamResponse = await handler(request)
    finally:
        current_identity.reset(identity_token)
        current_csrf.reset(csrf_token)
    return response
