"""Orchestration engine: servers, their Docker engines, rollouts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from c66d.errors import Unavailable
from c66d.keys import CONFIG, EVENTS, STATUS_PROBES, STORE
from c66d.orchestrator import routes_stacks
from c66d.orchestrator.engines import Engines

ENGINES = web.AppKey("engines", Engines)


async def check_local(app: web.Application) -> dict[str, Any]:
    """Ask the local engine for its version and record the server's state."""
    store, engines = app[STORE], app[ENGINES]
    previous = (await store.servers.get("local")).state
    try:
        version = await engines.version("local")
    except Unavailable as exc:
        await store.servers.set_state("local", "down", reason=exc.message)
        if previous != "down":
            app[EVENTS].publish("server.down", server="local", reason=exc.message)
        return {"state": "degraded", "reason": exc.message}
    await store.servers.set_state("local", "up", docker_version=version)
    if previous != "up":
        app[EVENTS].publish("server.up", server="local", docker_version=version)
    return {"state": "ok"}


async def _engines_ctx(app: web.Application) -> AsyncIterator[None]:
    store = app[STORE]
    if await store.servers.find("local") is None:
        await store.servers.add("local", kind="local", address="127.0.0.1",
                                roles=["builder", "app"])
    engines = Engines(app[CONFIG].docker_url)
    app[ENGINES] = engines
    await check_local(app)
    yield
    await engines.close()


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_engines_ctx)
    routes_stacks.setup(app)

    async def probe() -> dict[str, Any]:
        return await check_local(app)

    app[STATUS_PROBES]["orchestrator"] = probe
