"""ElasticDNS: a name for every service, container and server, from an in-memory table.

The table (`app[DNS_TABLE]`, a DnsTable) follows the event bus: `container.healthy` adds a
container, `container.draining/stopped/removed` take it away, `server.up/added/removed` keep
`<server>.<zone>`. The orchestrator may register `app[DNS_SOURCE]` (an async callable giving every
healthy container) in its own setup: it is called at start and whenever events were lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from c66d.config import HostPort
from c66d.dns import api
from c66d.dns.api import TABLE as DNS_TABLE
from c66d.dns.feed import ContainerSource, Feed
from c66d.dns.forward import Forwarder, choose_upstreams, host_resolv_conf
from c66d.dns.records import ContainerRecord, Port
from c66d.dns.resolver import Resolver
from c66d.dns.server import DnsListeners
from c66d.dns.table import DnsTable
from c66d.keys import CONFIG, EVENTS, LISTENERS, STATUS_PROBES, STORE
from c66d.net.keys import NET

__all__ = ["DNS_SOURCE", "DNS_TABLE", "RESOLVER", "ContainerRecord", "DnsTable", "Port",
           "setup"]

RESOLVER = web.AppKey("dns_resolver", Resolver)
DNS_SOURCE: web.AppKey[ContainerSource] = web.AppKey("dns_source")
_FEED = web.AppKey("dns_feed", Feed)
log = logging.getLogger("c66d.dns")


async def _dns_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    table = app[DNS_TABLE]
    feed = Feed(app[EVENTS], table, app.get(DNS_SOURCE))  # subscribe before loading: no gap
    app[_FEED] = feed
    for server in await app[STORE].servers.all():
        table.set_server(server.name, server.address)
    await feed.load()
    resolver = Resolver(table)
    app[RESOLVER] = resolver
    listeners = DnsListeners(config.dns, resolver.answer)
    bound = await listeners.start()
    app[LISTENERS].dns = bound
    resolver.forwarder = Forwarder(
        choose_upstreams(config.dns_upstreams, host_resolv_conf(), bound))
    for_containers = await _listen_for_containers(app, resolver)
    task = asyncio.create_task(feed.run(), name="dns-feed")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    feed.close()
    await listeners.stop()
    if for_containers is not None:
        await for_containers.stop()


async def _listen_for_containers(app: web.Application, resolver: Resolver) -> DnsListeners | None:
    """Port 53 on the c66d host's ContainerNet address (its bridge gateway, reached from other
    servers through the overlay): Docker's `Dns` option takes addresses, not ports."""
    net = app.get(NET)
    if net is None or not net.control_address:
        return None
    listeners = DnsListeners(HostPort(net.control_address, 53), resolver.answer, freebind=True)
    try:
        await listeners.start()
    except OSError as exc:
        log.warning("containers get no c66d DNS: cannot listen on %s:53: %s",
                    net.control_address, exc)
        return None
    net.dns_address = net.control_address
    return listeners


def setup(app: web.Application) -> None:
    config = app[CONFIG]
    app[DNS_TABLE] = DnsTable(config.dns_zone, config.dns_ttl, config.cluster_range)
    app.cleanup_ctx.append(_dns_ctx)
    api.setup(app)

    async def probe() -> dict[str, Any]:
        where = app[LISTENERS].dns
        out: dict[str, Any] = {"state": "ok" if where else "down",
                               "listen": str(where) if where else None,
                               "zone": app[DNS_TABLE].state.zone,
                               **app[DNS_TABLE].counts()}
        forwarder = app[RESOLVER].forwarder if RESOLVER in app else None
        if forwarder is not None:
            out["upstreams"] = [f"{h}:{p}" for h, p in forwarder.upstreams]
            out["forward_failures"] = forwarder.failures
        if _FEED in app:
            out["events_applied"] = app[_FEED].applied
            out["events_lost"] = app[_FEED].lost
        return out

    app[STATUS_PROBES]["dns"] = probe
