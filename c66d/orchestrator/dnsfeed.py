"""What the orchestrator tells ElasticDNS: healthy containers and each service's behaviour."""

from __future__ import annotations

import logging

from c66d.dns import ContainerRecord as DnsContainer
from c66d.dns import DnsTable, Port
from c66d.errors import C66dError
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
