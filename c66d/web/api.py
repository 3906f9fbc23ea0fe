"""Helpers every JSON handler uses: reading bodies, answering, paginating."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from c66d import jsonio
from c66d.errors import Invalid


def json_response(data: Any, *, status: int = 200) -> web.Response:
    return web.Response(status=status, body=jsonio.dumpb(data), content_type="application/json")


async def read_json(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return {}
    try:
        data = jsonio.loads(raw)
    except jsonio.JSONDecodeError as exc:
        raise Invalid(f"request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise Invalid("request body must be a JSON object")
    return data


def page_params(request: web.Request, *, default: int = 50, most: int = 500) -> tuple[int, str]:
    """(limit, cursor) from `?limit=&cursor=`."""
    raw = request.query.get("limit", str(default))
    try:
        limit = int(raw)
    except ValueError:
        raise Invalid(f"limit must be a number, got {raw!r}", detail={"param": "limit"}) from None
    if not 1 <= limit <= most:
        raise Invalid(f"limit must be 1..{most}, got {limit}", detail={"param": "limit"})
    return limit, request.query.get("cursor", "")
