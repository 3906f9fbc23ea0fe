"""`GET /api/v1/dns/records`: what the DNS server answers now."""

from __future__ import annotations

from aiohttp import web

from c66d.dns.table import DnsTable
from c66d.errors import Invalid
from c66d.web.access import access
from c66d.web.api import json_response, page_params

TABLE = web.AppKey("dns_table", DnsTable)


@access("user", stack_param=None)
async def get_records(request: web.Request) -> web.Response:
    """Records served now, sorted by name and type; `?stack=` narrows, `?limit=&cursor=` pages."""
    table = request.app[TABLE]
    limit, cursor = page_params(request, default=500, most=5000)
    try:
        start = int(cursor) if cursor else 0
    except ValueError:
        raise Invalid(f"bad cursor {cursor!r}", detail={"param": "cursor"}) from None
    records = sorted(table.listing(request.query.get("stack")),
                     key=lambda r: (r["name"], r["type"] or "", r["data"]))
    page = records[start:start + limit]
    more = start + limit < len(records)
    return json_response({
        "zone": table.state.zone, "ttl": table.state.ttl, "counts": table.counts(),
        "records": page, "next": str(start + limit) if more else None,
    })


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/dns/records", get_records, name="api.dns.records")
