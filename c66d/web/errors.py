"""One middleware renders every error in the shape its door expects."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from c66d import jsonio
from c66d.errors import C66dError

log = logging.getLogger("c66d.web")

_HTTP_CODES = {
    400: "INVALID", 401: "UNAUTHORIZED", 403: "DENIED", 404: "NOT_FOUND",
    405: "UNSUPPORTED", 409: "CONFLICT", 413: "TOO_LARGE", 416: "RANGE_INVALID",
}


def door(request: web.Request) -> str:
    path = request.path
    if path == "/v2" or path.startswith("/v2/"):
        return "registry"
    if path.startswith("/api/"):
        return "api"
    return "ui"


def api_error(status: int, code: str, message: str, detail: Any = None,
              headers: dict[str, str] | None = None) -> web.Response:
    body = {"error": {"code": code, "message": message, "detail": detail}}
    return web.Response(status=status, body=jsonio.dumpb(body),
                        content_type="application/json", headers=headers)


def registry_error(status: int, code: str, message: str, detail: Any = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    body = {"errors": [{"code": code, "message": message, "detail": detail}]}
    return web.Response(status=status, body=jsonio.dumpb(body),
                        content_type="application/json", headers=headers)


def render_error(request: web.Request, status: int, code: str, message: str,
                 detail: Any = None, headers: dict[str, str] | None = None) -> web.Response:
    which = door(request)
    if which == "registry":
        return registry_error(status, code, message, detail, headers)
    if which == "api":
        return api_error(status, code, message, detail, headers)
    context = {"status": status, "code": code, "message": message, "detail": detail}
    response = aiohttp_jinja2.render_template("error.html", request, context, status=status)
    if headers:
        response.headers.update(headers)
    return response


@web.middleware
async def error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except C66dError as exc:
        headers = getattr(exc, "headers", None)
        return render_error(request, exc.status, exc.code, exc.message, exc.detail, headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "ERROR")
        if door(request) == "registry" and exc.status == 404:
            code = "NAME_UNKNOWN"
        headers = {k: v for k, v in exc.headers.items() if k.lower() in {"allow"}}
        return render_error(request, exc.status, code, exc.reason, None, headers)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return render_error(request, 500, "INTERNAL", "internal error; see the c66d log")
