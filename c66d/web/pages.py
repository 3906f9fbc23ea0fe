"""Server-rendered UI pages: the dashboard (the other pages are in pages_*.py)."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from c66d.keys import EVENTS, STORE
from c66d.web.access import access
from c66d.web.status import collect_status

EVENTS_SHOWN = 20
HEALTHY = frozenset({"healthy", "running"})


async def stack_rows(request: web.Request, readable: frozenset[str] | None
                     ) -> list[dict[str, Any]]:
    """Each readable stack with its containers' health and its last deployment (3 queries;
    the containers are counted in SQL, not loaded)."""
    store = request.app[STORE]
    names = [s.name for s in await store.stacks.all()
             if readable is None or s.name in readable]
    latest = await store.deployments.latest_per_stack(readable)
    health = await store.containers.health_per_stack(readable, HEALTHY)
    return [{"name": n, "containers": health.get(n, (0, 0))[0],
             "healthy": health.get(n, (0, 0))[1], "last": latest.get(n)} for n in names]


@access("public")
@aiohttp_jinja2.template("dashboard.html")
async def dashboard(request: web.Request) -> dict[str, Any]:
    """Anyone sees the subsystems and servers (as /api/v1/status shows them); a signed-in user
    also sees the stacks, builds and events of the stacks they may read."""
    from c66d.auth import identity_of, readable_stacks
    from c66d.web.sse import visible

    status = await collect_status(request.app)
    who = identity_of(request)
    if who is None or who.anonymous:
        return {"status": status, "signed_in": False, "stacks": [], "builds": [], "events": []}
    readable = readable_stacks(who)
    store = request.app[STORE]
    builds = [b for state in ("running", "queued")
              for b in await store.builds.query(status=state, limit=20, stacks=readable)]
    events = [e for e in reversed(request.app[EVENTS].recent(200)) if visible(e, who, None)]
    return {"status": status, "signed_in": True, "stacks": await stack_rows(request, readable),
            "builds": builds, "events": events[:EVENTS_SHOWN]}


def setup(app: web.Application) -> None:
    app.router.add_get("/", dashboard, name="ui.dashboard")
