"""`n`/`last` pagination with the Link header, and bounded body reads."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from c66d.registry.errors import TooLarge, Unsupported
from c66d.registry.uploads import ByteStream

MAX_PAGE = 10_000


def page_query(request: web.Request) -> tuple[int | None, str]:
    """(n, last): n is None when the client asked for everything."""
    raw = request.query.get("n")
    n: int | None = None
    if raw is not None:
        try:
            n = int(raw)
        except ValueError:
            raise Unsupported(f"n must be a number, got {raw[:20]!r}") from None
        if n < 0:
            raise Unsupported(f"n must not be negative, got {n}")
        n = min(n, MAX_PAGE)
    return n, request.query.get("last", "")


def link_header(path: str, n: int, last: str) -> str:
    return f'<{path}?{urlencode({"n": n, "last": last})}>; rel="next"'


async def read_limited(stream: ByteStream, limit: int) -> bytes:
    """The whole body, refused with 413 once it passes `limit` bytes."""
    parts: list[bytes] = []
    size = 0
    while chunk := await stream.readany():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"body is larger than {limit} bytes", detail={"limit": limit})
        parts.append(chunk)
    return b"".join(parts)
