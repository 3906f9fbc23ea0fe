"""ElasticDNS: the UDP and TCP DNS server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from c66d.dns.resolver import Resolver
from c66d.dns.server import DnsListeners
from c66d.keys import CONFIG, LISTENERS, STATUS_PROBES

RESOLVER = web.AppKey("dns_resolver", Resolver)


async def _dns_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    resolver = Resolver(config.dns_zone, config.dns_ttl)
    app[RESOLVER] = resolver
    listeners = DnsListeners(config.dns, resolver.answer)
    app[LISTENERS].dns = await listeners.start()
    yield
    await listeners.stop()


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_dns_ctx)

    async def probe() -> dict[str, Any]:
        where = app[LISTENERS].dns
        return {"state": "ok" if where else "down", "listen": str(where) if where else None}

    app[STATUS_PROBES]["dns"] = probe
