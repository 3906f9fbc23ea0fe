"""Helpers every JSON handler uses: reading bodies, answering, paginating."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

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


def int_cursor(raw: str) -> int:
    """A numeric cursor (an id or number); "" gives 0; anything else is Invalid."""
    if not raw:
        return 0
    if not raw.isdigit():
        raise Invalid(f"bad cursor {raw[:40]!r}", detail={"param": "cursor"})
    return int(raw)


T = TypeVar("T")


def paged(rows: Sequence[T], limit: int, cursor_of: Callable[[T], str]
          ) -> tuple[list[T], str | None]:
    """Rows fetched with `limit + 1`: (this page, the cursor of the next page or None)."""
    page = list(rows[:limit])
    more = len(rows) > limit and bool(page)
    return page, cursor_of(page[-1]) if more else None


def page_body(items: list[Any], next_cursor: str | None, **extra: Any) -> dict[str, Any]:
    """Every list answers `{"items": [...], "next": cursor or null, ...}`."""
    return {"items": items, "next": next_cursor, **extra}


def encode_cursor(values: Sequence[Any]) -> str:
    """An opaque cursor for a composite sort key."""
    return base64.urlsafe_b64encode(jsonio.dumpb(list(values))).decode().rstrip("=")


def decode_cursor(raw: str, size: int) -> tuple[Any, ...]:
    """The sort key from `encode_cursor`, or Invalid; "" gives ()."""
    if not raw:
        return ()
    try:
        values = jsonio.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, jsonio.JSONDecodeError):
        values = None
    if not isinstance(values, list) or len(values) != size:
        raise Invalid(f"bad cursor {raw[:40]!r}", detail={"param": "cursor"})
    return tuple(values)
