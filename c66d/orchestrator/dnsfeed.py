"""What the orchestrator tells ElasticDNS: healthy containers, each service's behaviour, and
the stacks' database names (`databases:` in service.yml: `<type>.<stack>.<zone>` answers the
addresses of the servers that carry the database type as a role, e.g. `roles: [postgresql]`)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket

from c66d.dns import ContainerRecord as DnsContainer
from c66d.dns import DnsTable, Port
from c66d.errors import C66dError
from c66d.events import EventBus
from c66d.orchestrator.spec import StackSpec
from c66d.orchestrator.stacks import spec_of
from c66d.store import Store

log = logging.getLogger("c66d.orchestrator")


def apply_behaviours(table: DnsTable, stack: str, spec: StackSpec) -> None:
    for service in spec.services.values():
        table.set_behaviour(stack, service.name, service.load_balancing, service.dns_behaviour)


async def healthy_containers(store: Store, table: DnsTable) -> list[DnsContainer]:
    """Every healthy container c66d records, with its service's ports; behaviours refreshed."""
    specs: dict[str, StackSpec] = {}
    for stack in await store.stacks.all():
        try:
            specs[stack.name] = spec_of(stack)
        except C66dError as exc:  # a stored file is valid; never let one stack stop DNS
            log.warning("stack %s: %s", stack.name, exc.message)
            continue
        apply_behaviours(table, stack.name, specs[stack.name])
    out = []
    for record in await store.containers.query():
        spec = specs.get(record.stack)
        if record.state != "healthy" or spec is None or record.service not in spec.services:
            continue
        ports = tuple(Port(p.container, "udp" if p.udp else "tcp")
                      for p in spec.services[record.service].ports)
        out.append(DnsContainer(id=record.id, name=record.name, stack=record.stack,
                                service=record.service, server=record.server,
                                address=record.address, version=record.deployment,
                                ports=ports))
    return out


async def refresh_databases(store: Store, table: DnsTable) -> None:
    """Every stack's database names with the addresses of the servers carrying them."""
    by_role: dict[str, list[str]] = {}
    for server in await store.servers.all():
        address = await _ip_of(server.address)
        for role in server.roles if address else ():
            by_role.setdefault(role.lower(), []).append(address)
    names = set()
    for stack in await store.stacks.all():
        try:
            spec = spec_of(stack)
        except C66dError:
            continue
        names.add(stack.name.lower())
        table.set_databases(stack.name, {db: by_role.get(db, []) for db in spec.databases})
    for gone in set(table.state.databases) - names:
        table.set_databases(gone, {})


async def follow_databases(events: EventBus, store: Store, table: DnsTable) -> None:
    """Database names follow servers added or removed and stacks created, changed, deleted."""
    with events.subscribe(("server.added", "server.removed", "stack.")) as subscription:
        while True:
            try:
                await refresh_databases(store, table)
            except Exception:  # DNS keeps what it has
                log.exception("database names not refreshed")
            await subscription.get()


async def _ip_of(host: str) -> str:
    with contextlib.suppress(ValueError):
        return str(ipaddress.ip_address(host))
    if not host:
        return ""
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return ""
    return str(found[0][4][0]) if found else ""
