"""Server-rendered UI pages."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from c66d.keys import EVENTS
from c66d.web.access import access
from c66d.web.status import collect_status


@access("public")
@aiohttp_jinja2.template("dashboard.html")
async def dashboard(request: web.Request) -> dict[str, Any]:
    status = await collect_status(request.app)
    return {"status": status, "events": list(reversed(request.app[EVENTS].recent(20)))}


def setup(app: web.Application) -> None:
    app.router.add_get("/", dashboard, name="ui.dashboard")
