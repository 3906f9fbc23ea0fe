"""Access control: who is calling, and whether the route's declared access allows it."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from c66d.errors import Unauthorized
from c66d.web.access import required_access

log = logging.getLogger("c66d.auth")


def route_access_level(request: web.Request) -> str | None:
    """The declared level of the matched route; static files are public."""
    route = request.match_info.route
    if isinstance(route.resource, web.StaticResource):
        return "public"
    if getattr(request.match_info, "http_exception", None) is not None:
        return "public"  # no route matched: let the 404/405 through
    declared = required_access(route.handler)
    return None if declared is None else declared.level


@web.middleware
async def auth_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    level = route_access_level(request)
    if level is None:
        log.error("route %s %s declares no access; refused", request.method, request.path)
        raise Unauthorized("this route declares no access level")
    if level != "public":
        raise Unauthorized("sign-in is required")
    response: web.StreamResponse = await handler(request)
    return response


def setup(app: web.Application) -> None:
    app.middlewares.append(auth_middleware)
