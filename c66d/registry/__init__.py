"""Registry: the OCI distribution v2 endpoint at /v2/."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from c66d.keys import CONFIG, DATA_DIR, EVENTS, STATUS_PROBES, STORE
from c66d.logs import get_logger
from c66d.registry import api, routes
from c66d.registry.blobs import BlobStore
from c66d.registry.gc import collect
from c66d.registry.service import REGISTRY, Registry
from c66d.web.access import access

API_VERSION_HEADER = {"Docker-Distribution-API-Version": "registry/2.0"}

log = get_logger("c66d.registry")


@access("user", stack_param=None)
async def base(request: web.Request) -> web.Response:
    """`GET /v2/`: the endpoint exists and speaks distribution v2 (401 asks for credentials,
    which is how docker learns to send them)."""
    return web.json_response({}, headers=API_VERSION_HEADER)


async def _maintain(app: web.Application) -> None:
    """Expire idle uploads often; collect garbage every `registry_gc_interval` seconds."""
    config = app[CONFIG]
    registry = app[REGISTRY]
    tick = max(0.5, min(60.0, config.registry_upload_expiry / 2 or 60.0))
    last_gc = time.monotonic()
    while True:
        await asyncio.sleep(tick)
        try:
            due = config.registry_gc_interval > 0 and \
                time.monotonic() - last_gc >= config.registry_gc_interval
            if due:
                last_gc = time.monotonic()
                await collect(registry, grace=config.registry_upload_expiry,
                              upload_expiry=config.registry_upload_expiry)
            else:
                await registry.uploads.expire(time.time() - config.registry_upload_expiry)
        except Exception:
            log.exception("registry maintenance failed; retrying at the next tick")


async def _registry_ctx(app: web.Application) -> AsyncIterator[None]:
    blobs = BlobStore(app[DATA_DIR].blobs)
    await asyncio.to_thread(blobs.create)
    app[REGISTRY] = Registry(app[STORE].registry, blobs, app[EVENTS])
    task = asyncio.create_task(_maintain(app), name="registry-maintenance")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    app[REGISTRY].senders.shutdown(wait=False, cancel_futures=True)


def setup(app: web.Application) -> None:
    app.router.add_get("/v2/", base, name="registry.base")
    routes.add_routes(app)
    api.add_routes(app)
    app.cleanup_ctx.append(_registry_ctx)

    async def probe() -> dict[str, Any]:
        registry = app.get(REGISTRY)
        if registry is None:
            return {"state": "starting"}
        uploads = len(await registry.store.upload_ids())
        return {"state": "ok", "uploads": uploads}

    app[STATUS_PROBES]["registry"] = probe
