"""`GET /api/v1/status`: version, each subsystem's state, each server."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from c66d import __version__
from c66d.keys import LISTENERS, STATUS_PROBES, STORE, StatusProbe
from c66d.web.access import access
from c66d.web.api import json_response

log = logging.getLogger("c66d.web.status")


async def _probe(name: str, probe: StatusProbe) -> dict[str, Any]:
    try:
        result = await asyncio.wait_for(probe(), timeout=3)
    except TimeoutError:
        return {"state": "degraded", "reason": "status probe timed out"}
    except Exception as exc:  # a broken subsystem must not break /status
        log.warning("status probe %s failed: %s", name, exc)
        return {"state": "down", "reason": str(exc)}
    return result


async def collect_status(app: web.Application) -> dict[str, Any]:
    probes = app[STATUS_PROBES]
    names = sorted(probes)
    results = await asyncio.gather(*(_probe(n, probes[n]) for n in names))
    servers = await app[STORE].servers.all()
    listeners = app[LISTENERS]
    return {
        "version": __version__,
        "instance": await app[STORE].meta.get("instance_id"),
        "http": str(listeners.http) if listeners.http else None,
        "dns": str(listeners.dns) if listeners.dns else None,
        "subsystems": dict(zip(names, results, strict=True)),
        "servers": [
            {
                "name": s.name, "kind": s.kind, "address": s.address, "state": s.state,
                "reason": s.state_reason, "docker_version": s.docker_version,
                "last_seen": s.last_seen,
            }
            for s in servers
        ],
    }


@access("public")
async def get_status(request: web.Request) -> web.Response:
    return json_response(await collect_status(request.app))


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/status", get_status, name="api.status")
