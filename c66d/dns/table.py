"""The in-memory DNS table: fed by events and the orchestrator, compiled lazily into replies."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from c66d.dns.records import Behaviour, ContainerRecord, TableState, is_label
from c66d.dns.zone import Zone, compile_zone

log = logging.getLogger("c66d.dns")


class DnsTable:
    """What the DNS server serves. Every change marks it dirty; the next query (or listing)
    recompiles the whole zone once, so a burst of events costs one rebuild.

    Feeding it, for the orchestrator:
    - `replace(containers)`: the full set of healthy containers (at start, or to resync);
    - `add(container)` / `remove(container_id)`: what `container.healthy` / `.draining` do;
    - `set_server(name, address)` / `remove_server(name)`;
    - `set_behaviour(stack, service, load_balancing, dns_behaviour)` from service.yml;
    - `set_databases(stack, {name: [address, ...]})`: `<name>.<stack>.<zone>` for databases.
    """

    def __init__(self, zone: str, ttl: int, cluster_range: str) -> None:
        self.state = TableState(zone.strip(".").lower(), ttl, cluster_range)
        self.serial = 0
        self._zone: Zone | None = None
        self._previous: Zone | None = None
        # Whole UDP replies (less their id) by query (less its id), for answers that do not
        # depend on who asks or when; emptied on every change.
        self.replies: dict[bytes, bytes] = {}

    @property
    def zone(self) -> Zone:
        """The compiled replies, rebuilt here when something changed since the last query."""
        if self._zone is None:
            self.serial += 1
            self._zone = compile_zone(self.state, self.serial, self._previous)
            self._previous = self._zone
        return self._zone

    def _changed(self) -> None:
        self._zone = None
        self.replies = {}

    def add(self, container: ContainerRecord) -> None:
        container.check()
        if self.state.containers.get(container.id) != container:
            self.state.containers[container.id] = container
            self._changed()

    def remove(self, container_id: str) -> None:
        if self.state.containers.pop(container_id, None) is not None:
            self._changed()

    def replace(self, containers: Iterable[ContainerRecord]) -> None:
        """Serve exactly these containers (the orchestrator's healthy ones)."""
        fresh: dict[str, ContainerRecord] = {}
        for container in containers:
            try:
                container.check()
            except ValueError as exc:
                log.warning("container %s not served: %s", container.id, exc)
                continue
            fresh[container.id] = container
        self.state.containers = fresh
        self._changed()

    def set_server(self, name: str, address: str) -> None:
        if not address or not is_label(name.lower()):
            self.remove_server(name)
            return
        if self.state.servers.get(name.lower()) != address:
            self.state.servers[name.lower()] = address
            self._changed()

    def remove_server(self, name: str) -> None:
        if self.state.servers.pop(name.lower(), None) is not None:
            self._changed()

    def set_behaviour(self, stack: str, service: str, load_balancing: str = "roundrobin",
                      dns_behaviour: str = "non-versioned") -> None:
        """How `<service>.<stack>` answers; raises ValueError on an unknown value."""
        behaviour = Behaviour(load_balancing or "roundrobin", dns_behaviour or "non-versioned")
        key = (stack.lower(), service.lower())
        if self.state.behaviours.get(key) != behaviour:
            self.state.behaviours[key] = behaviour
            self._changed()

    def set_databases(self, stack: str, databases: Mapping[str, Iterable[str]]) -> None:
        """The stack's database names and addresses (an empty mapping removes them)."""
        cleaned = {name.lower(): tuple(addrs) for name, addrs in databases.items()
                   if is_label(name.lower())}
        if cleaned:
            self.state.databases[stack.lower()] = cleaned
        else:
            self.state.databases.pop(stack.lower(), None)
        self._changed()

    def listing(self, stack: str | None = None) -> list[dict[str, Any]]:
        records = self.zone.listing(self.state.ttl)
        if not stack:
            return records
        suffix = f".{stack.lower()}.{self.state.zone}."
        return [r for r in records if r.get("stack") == stack or r["name"].endswith(suffix)]

    def counts(self) -> dict[str, int]:
        return dict(self.zone.counts)
