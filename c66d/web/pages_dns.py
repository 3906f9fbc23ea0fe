"""The DNS page: the records served now (those of stacks the caller may read, plus servers)."""

from __future__ import annotations

from aiohttp import web

from c66d.auth import allowed, identity_of
from c66d.dns import DNS_TABLE
from c66d.web.access import access
from c66d.web.uikit import render


@access("user", stack_param=None)
async def dns_page(request: web.Request) -> web.Response:
    table, who = request.app[DNS_TABLE], identity_of(request)
    stack = request.query.get("stack", "")
    records = [r for r in table.listing(stack or None)
               if "stack" not in r or allowed(who, "read", r["stack"])]
    records.sort(key=lambda r: (r["name"], r["type"] or "", r["data"]))
    return render(request, "dns.html", {"records": records, "zone": table.state.zone,
                                        "ttl": table.state.ttl, "stack": stack})


def setup(app: web.Application) -> None:
    app.router.add_get("/dns", dns_page, name="ui.dns")
