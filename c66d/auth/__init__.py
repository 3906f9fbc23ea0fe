"""Access control: who is calling, and whether the route's declared access allows it.

Interim: the only identity is the `admin` user with `admin_password` over HTTP Basic.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from typing import Any

from aiohttp import web

from c66d.errors import Unauthorized
from c66d.keys import CONFIG
from c66d.web.access import required_access
from c66d.web.errors import door

log = logging.getLogger("c66d.auth")


def route_access_level(request: web.Request) -> str | None:
    """The declared level of the matched route; static files and unmatched paths are public."""
    route = request.match_info.route
    if isinstance(route.resource, web.StaticResource):
        return "public"
    if getattr(request.match_info, "http_exception", None) is not None:
        return "public"  # no route matched: let the 404/405 through
    declared = required_access(route.handler)
    return None if declared is None else declared.level


def basic_credentials(request: web.Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(value.strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


def _challenge(request: web.Request, message: str) -> Unauthorized:
    exc = Unauthorized(message)
    if door(request) == "registry":
        exc.headers = {"WWW-Authenticate": 'Basic realm="c66d"'}  # type: ignore[attr-defined]
    return exc


@web.middleware
async def auth_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    level = route_access_level(request)
    if level is None:
        log.error("route %s %s declares no access; refused", request.method, request.path)
        raise Unauthorized("this route declares no access level")
    if level != "public":
        creds = basic_credentials(request)
        password = request.app[CONFIG].admin_password
        if creds is None:
            raise _challenge(request, "sign-in is required")
        if not (password and creds[0] == "admin"
                and hmac.compare_digest(creds[1].encode(), password.encode())):
            raise _challenge(request, "wrong user name or password")
    response: web.StreamResponse = await handler(request)
    return response


def setup(app: web.Application) -> None:
    app.middlewares.append(auth_middleware)
