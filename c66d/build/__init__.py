"""BuildGrid: from a git commit to a versioned image in the built-in registry.

Publishes `build.queued`, `build.started` and `build.finished` (data: build, stack, service,
status, digest, image, commit, branch, reason, trigger; `build.finished` also `auto_deploy`,
true when the build succeeded and its stack deploys itself: the orchestrator subscribes).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from aiohttp import web

from c66d.auth.crypto import sign_registry_token
from c66d.auth.registry import INTERNAL_PULLER
from c66d.auth.state import AUTH
from c66d.build.api import setup_routes
from c66d.build.builders import (
    LOCAL,
    Builder,
    BuilderPicker,
    Candidate,
    choose_builder,
    fixed_builder,
    no_builder,
)
from c66d.build.engine import RegistryTarget
from c66d.build.gitsource import Mirrors
from c66d.build.keys import BUILD_LOGS, BUILD_QUEUE
from c66d.build.livelog import BuildLogs
from c66d.build.queue import BuildQueue
from c66d.build.runner import BuildDeps
from c66d.keys import CONFIG, DATA_DIR, EVENTS, LISTENERS, STATUS_PROBES, STORE


def registry_target(app: web.Application, repository: str) -> RegistryTarget:
    """Where the builder pushes `repository`, with a signed token that may push only there.

    The engine pushes to the registry on c66d's own HTTP port over loopback (a loopback
    registry needs no TLS). The token outlives the longest allowed build.
    """
    listen = app[LISTENERS].http
    port = listen.port if listen else app[CONFIG].http.port
    ttl = max(app[CONFIG].build_timeout, 3600.0) + 600.0
    token = sign_registry_token(
        app[AUTH].registry_key, INTERNAL_PULLER,
        [{"type": "repository", "name": repository, "actions": ["pull", "push"]}], ttl=ttl)
    return RegistryTarget(f"127.0.0.1:{port}", {"username": INTERNAL_PULLER, "password": token})


def builder_picker(app: web.Application) -> BuilderPicker:
    """Builders among the orchestrator's servers; the configured engine without one."""
    async def pick(busy: Mapping[str, int]) -> Builder:
        from c66d.orchestrator import ENGINES  # the orchestrator sets it up at start

        if ENGINES not in app:
            return await fixed_builder(app[CONFIG].docker_url)(busy)
        engines = app[ENGINES]
        candidates = [Candidate(s.name, tuple(s.roles), s.state == "up"
                                and (s.name == LOCAL or engines.connected(s.name)))
                      for s in await app[STORE].servers.all()]
        chosen = choose_builder(candidates, busy)
        if chosen is None:
            raise no_builder(candidates)
        return Builder(chosen, engines.url(chosen))

    return pick


def _make_queue(app: web.Application) -> BuildQueue:
    data_dir, config = app[DATA_DIR], app[CONFIG]
    deps = BuildDeps(
        store=app[STORE], logs=app[BUILD_LOGS], mirrors=Mirrors(data_dir.builds / "repos"),
        work_dir=data_dir.builds / "work", keys_dir=data_dir.keys,
        pick_builder=builder_picker(app),
        registry=lambda repository: registry_target(app, repository),
    )
    return BuildQueue(deps, app[EVENTS], concurrency=config.build_concurrency,
                      timeout=config.build_timeout)


async def _queue_ctx(app: web.Application) -> AsyncIterator[None]:
    queue = app[BUILD_QUEUE]
    await queue.start()
    yield
    await queue.stop()


def setup(app: web.Application) -> None:
    app[BUILD_LOGS] = BuildLogs(app[DATA_DIR].builds / "logs")
    app[BUILD_QUEUE] = _make_queue(app)
    app.cleanup_ctx.append(_queue_ctx)
    setup_routes(app)

    async def probe() -> dict[str, Any]:
        queue = app[BUILD_QUEUE]
        return {"state": "ok", "running": queue.running,
                "queued": await app[STORE].builds.count("queued")}

    app[STATUS_PROBES]["build"] = probe
