"""`GET /api/v1/status`: version, each subsystem's state, each server."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from c66d import __version__
from c66d.keys import EVENTS, LISTENERS, STATUS_PROBES, STORE, StatusProbe
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


@dataclass
class StatusCache:
    """The last status and when it was taken (loop time) and the last event id then."""

    at: float = -1e9
    event_id: int = -1
    value: dict[str, Any] | None = None


STATUS_CACHE = web.AppKey("status_cache", StatusCache)
STATUS_TTL = 1.0  # seconds a status is reused while no event was published


def _last_event_id(app: web.Application) -> int:
    last = app[EVENTS].recent(1)
    return last[0].id if last else 0


async def collect_status(app: web.Application) -> dict[str, Any]:
    """The status, reused for up to STATUS_TTL seconds unless an event (server up/down,
    container, build, ...) came since: the dashboard and health checks read it on every
    request, and it takes a dozen queries and probes."""
    cache, now = app[STATUS_CACHE], asyncio.get_running_loop().time()
    event_id = _last_event_id(app)
    if cache.value is not None and now - cache.at < STATUS_TTL and cache.event_id == event_id:
        return cache.value
    value = await _collect(app)
    cache.at, cache.event_id, cache.value = now, event_id, value
    return value


async def _collect(app: web.Application) -> dict[str, Any]:
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
    app[STATUS_CACHE] = StatusCache()
    app.router.add_get("/api/v1/status", get_status, name="api.status")
