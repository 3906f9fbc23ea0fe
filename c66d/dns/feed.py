"""Keep the DNS table in step with the event bus (container.* and server.* events)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from c66d.dns.records import ContainerRecord
from c66d.dns.table import DnsTable
from c66d.events import EventBus

log = logging.getLogger("c66d.dns")

# What the orchestrator registers under DNS_SOURCE: every healthy container now.
ContainerSource = Callable[[], Awaitable[Iterable[ContainerRecord]]]

ADDS = ("container.healthy",)
REMOVES = ("container.draining", "container.stopped", "container.removed")
SERVER_SETS = ("server.up", "server.added")
SERVER_REMOVES = ("server.removed",)


def apply_event(table: DnsTable, kind: str, data: Mapping[str, Any]) -> bool:
    """Change the table for one event; False when the event is not for DNS or unusable."""
    try:
        if kind in ADDS:
            table.add(ContainerRecord.from_event(data))
        elif kind in REMOVES:
            table.remove(str(data["id"]))
        elif kind in SERVER_SETS:
            table.set_server(str(data["server"]), str(data.get("address") or ""))
        elif kind in SERVER_REMOVES:
            table.remove_server(str(data["server"]))
        else:
            return False
    except (KeyError, ValueError, TypeError) as exc:
        log.warning("event %s not usable for DNS: %r (%s)", kind, dict(data), exc)
        return False
    return True


class Feed:
    """Reads the bus; when events were lost (a full queue), reloads from the source."""

    def __init__(self, bus: EventBus, table: DnsTable,
                 source: ContainerSource | None = None) -> None:
        self.table = table
        self.source = source
        self.subscription = bus.subscribe(("container.", "server."), maxsize=100_000)
        self.applied = 0
        self.lost = 0

    async def load(self) -> None:
        """Replace the table's containers with the source's; a failing source changes nothing."""
        if self.source is None:
            return
        try:
            containers = list(await self.source())
        except Exception:  # DNS keeps serving what it has
            log.exception("the DNS container source failed; keeping the current records")
            return
        self.table.replace(containers)

    async def run(self) -> None:
        sub = self.subscription
        while True:
            event = await sub.get()
            if sub.dropped:
                self.lost += sub.dropped
                log.warning("DNS missed %d events; reloading the table", sub.dropped)
                sub.dropped = 0
                await self.load()
            if apply_event(self.table, event.kind, event.data):
                self.applied += 1

    def close(self) -> None:
        self.subscription.close()
