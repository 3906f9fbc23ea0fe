"""The composition root: `create_app(config)` builds the whole of c66d."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

from aiohttp import web

from c66d import auth, build, dns, net, orchestrator, registry
from c66d import web as web_door
from c66d.config import Config
from c66d.datadir import DataDir
from c66d.events import EventBus
from c66d.keys import CONFIG, DATA_DIR, EVENTS, LISTENERS, STATUS_PROBES, STORE, Listeners
from c66d.store import SecretBox, Store
from c66d.web.errors import error_middleware

# Request bodies above this are refused; registry uploads stream and are not bound by it.
MAX_BODY = 64 * 1024 * 1024


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    store = app[STORE]
    await store.open()
    if await store.meta.get("instance_id") is None:
        await store.meta.set("instance_id", secrets.token_hex(8))
    yield
    await store.close()


def create_app(config: Config, listeners: Listeners | None = None) -> web.Application:
    """Build the application; resources open on startup and close on cleanup, in order."""
    data_dir = DataDir(config.data_dir)
    data_dir.create()
    app = web.Application(middlewares=[error_middleware], client_max_size=MAX_BODY)
    app[CONFIG] = config
    app[DATA_DIR] = data_dir
    box = SecretBox.from_file(data_dir.keys / "secret.key", config.secret_key)
    app[STORE] = Store(data_dir.database, box)
    app[EVENTS] = EventBus()
    app[STATUS_PROBES] = {}
    app[LISTENERS] = listeners or Listeners(http=config.http)
    app.cleanup_ctx.append(_store_ctx)

    async def store_probe() -> dict[str, object]:
        return {"state": "ok" if await app[STORE].ping() else "down"}

    app[STATUS_PROBES]["store"] = store_probe
    web_door.setup(app)
    auth.setup(app)
    registry.setup(app)
    build.setup(app)
    net.setup(app)
    orchestrator.setup(app)
    dns.setup(app)

    async def web_probe() -> dict[str, object]:
        return {"state": "ok", "listen": app[LISTENERS].base_url()}

    app[STATUS_PROBES]["web"] = web_probe
    return app
