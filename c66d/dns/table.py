"""The in-memory DNS table: fed by events and the orchestrator, compiled lazily into replies."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from c66d.dns import sources
from c66d.dns.cache import ReplyCache
from c66d.dns.records import Behaviour, ContainerRecord, TableState, is_label
from c66d.dns.sources import SourceKey
from c66d.dns.zone import Zone

log = logging.getLogger("c66d.dns")


_STALE: dict[bytes, bytes] = {}  # what the resolver sees between a change and the next query


class DnsTable:
    """What the DNS server serves. A change is noted at once and taken in by the next query (or
    listing), which rebuilds only the names the changed things touch: a burst of events costs
    one pass over their names, not a rebuild of the zone.

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
        self._zone = Zone(self.state.zone, ttl, cluster_range)
        self.cache = ReplyCache()
        # Whole UDP replies (less their id) by query (less its id), for answers that do not
        # depend on who asks or when: the cache's, or an empty one while a change is pending.
        self.replies: dict[bytes, bytes] = self.cache.replies
        self._containers: set[str] = set()
        self._servers: set[str] = set()
        self._databases: set[str] = set()
        self._behaviours: set[tuple[str, str]] = set()
        self._keys: dict[str, SourceKey] = {}  # container id -> its source key in the zone
        self._database_keys: dict[str, list[SourceKey]] = {}
        self._pending = True

    @property
    def zone(self) -> Zone:
        """The replies, brought up to date here when something changed since the last query."""
        if self._pending:
            self._flush()
        return self._zone

    def _changed(self) -> None:
        self._pending = True
        self.replies = _STALE

    def _flush(self) -> None:
        state, zone = self.state, self._zone
        for cid in self._containers:
            old = self._keys.pop(cid, None)
            if old is not None:
                zone.drop(old)
            container = state.containers.get(cid)
            if container is not None:
                self._keys[cid] = key = sources.container_key(container)
                zone.put(key, sources.of_container(container, state.zone, state.ttl))
        for server in self._servers:
            zone.drop(sources.server_key(server))
            if server in state.servers:
                zone.put(sources.server_key(server), sources.of_server(
                    server, state.servers[server], state.zone, state.ttl))
        for stack in self._databases:
            for key in self._database_keys.pop(stack, ()):
                zone.drop(key)
            for database, addresses in state.databases.get(stack, {}).items():
                key = sources.database_key(stack, database)
                self._database_keys.setdefault(stack, []).append(key)
                zone.put(key, sources.of_database(stack, database, addresses, state.zone,
                                                  state.ttl))
        if self._behaviours:
            for c in state.containers.values():
                if (c.stack, c.service) in self._behaviours:
                    zone.touch(sources.container_key(c))
        for touched in (self._containers, self._servers, self._databases, self._behaviours):
            touched.clear()
        self.serial += 1
        self.cache.forget(zone.flush(self.serial, state.behaviours))
        self.replies = self.cache.replies
        self._pending = False

    def add(self, container: ContainerRecord) -> None:
        container.check()
        if self.state.containers.get(container.id) != container:
            self.state.containers[container.id] = container
            self._containers.add(container.id)
            self._changed()

    def remove(self, container_id: str) -> None:
        if self.state.containers.pop(container_id, None) is not None:
            self._containers.add(container_id)
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
        old = self.state.containers
        touched = {cid for cid in old.keys() | fresh.keys() if old.get(cid) != fresh.get(cid)}
        self.state.containers = fresh
        if touched:
            self._containers |= touched
            self._changed()

    def set_server(self, name: str, address: str) -> None:
        if not address or not is_label(name.lower()):
            self.remove_server(name)
            return
        if self.state.servers.get(name.lower()) != address:
            self.state.servers[name.lower()] = address
            self._servers.add(name.lower())
            self._changed()

    def remove_server(self, name: str) -> None:
        if self.state.servers.pop(name.lower(), None) is not None:
            self._servers.add(name.lower())
            self._changed()

    def set_behaviour(self, stack: str, service: str, load_balancing: str = "roundrobin",
                      dns_behaviour: str = "non-versioned") -> None:
        """How `<service>.<stack>` answers; raises ValueError on an unknown value."""
        behaviour = Behaviour(load_balancing or "roundrobin", dns_behaviour or "non-versioned")
        key = (stack.lower(), service.lower())
        if self.state.behaviours.get(key) != behaviour:
            self.state.behaviours[key] = behaviour
            self._behaviours.add(key)
            self._changed()

    def set_databases(self, stack: str, databases: Mapping[str, Iterable[str]]) -> None:
        """The stack's database names and addresses (an empty mapping removes them)."""
        cleaned = {name.lower(): tuple(addrs) for name, addrs in databases.items()
                   if is_label(name.lower())}
        if self.state.databases.get(stack.lower(), {}) == cleaned:
            return
        if cleaned:
            self.state.databases[stack.lower()] = cleaned
        else:
            self.state.databases.pop(stack.lower(), None)
        self._databases.add(stack.lower())
        self._changed()

    def listing(self, stack: str | None = None) -> list[dict[str, Any]]:
        records = self.zone.listing(self.state.ttl)
        if not stack:
            return records
        suffix = f".{stack.lower()}.{self.state.zone}."
        return [r for r in records if r.get("stack") == stack or r["name"].endswith(suffix)]

    def counts(self) -> dict[str, int]:
        zone = self.zone
        return {"names": len(zone.rrsets), "records": zone.records,
                "containers": len(self.state.containers), "servers": len(self.state.servers)}
