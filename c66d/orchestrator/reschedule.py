"""Moving containers off a server that stays down (service key `reschedule_after`).

When a server has been down longer than a service's `reschedule_after`, c66d starts a
deployment of that service alone (the stack's last successful snapshot): the planner places
the containers on servers that answer and abandons the `unknown` ones; when the server comes
back, its reconciler removes them, so the count is right again. Services without the key wait
for their server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from c66d.errors import C66dError
from c66d.logs import get_logger
from c66d.orchestrator.reconcile import UNKNOWN
from c66d.orchestrator.servicefile import parse_service_file
from c66d.store import ContainerRecord, Store

# (stack, services, actor) -> starts a deployment of just those services
Start = Callable[[str, list[str], str], Awaitable[object]]
Limits = dict[tuple[str, str], float | None]  # (stack, service) -> reschedule_after


def due(records: list[ContainerRecord], limits: Limits, down_for: float
        ) -> tuple[dict[str, list[str]], float | None]:
    """Services to move now, by stack, and in how many seconds the next one is due (None:
    nothing else will be). Only `unknown` containers of services with a limit count."""
    now: dict[str, set[str]] = {}
    later: float | None = None
    for record in records:
        limit = limits.get((record.stack, record.service))
        if record.state != UNKNOWN or limit is None:
            continue
        if down_for >= limit:
            now.setdefault(record.stack, set()).add(record.service)
        else:
            later = limit - down_for if later is None else min(later, limit - down_for)
    return {stack: sorted(names) for stack, names in sorted(now.items())}, later


async def limits_of(store: Store, records: list[ContainerRecord]) -> Limits:
    """reschedule_after of each record's service, from the deployment that made it."""
    limits: Limits = {}
    specs: dict[tuple[str, int], dict[str, float | None]] = {}
    for record in records:
        key = (record.stack, record.deployment)
        if key not in specs:
            try:
                deployment = await store.deployments.by_number(*key)
                spec = parse_service_file(deployment.snapshot["service_yml"])
            except (C66dError, KeyError):
                specs[key] = {}
                continue
            specs[key] = {n: s.reschedule_after for n, s in spec.services.items()}
        limits[(record.stack, record.service)] = specs[key].get(record.service)
    return limits


class Rescheduler:
    """One timer per down server; cancelled when it comes back or is removed."""

    def __init__(self, store: Store, start: Start) -> None:
        self.store, self.start = store, start
        self.log = get_logger("c66d.reschedule")
        self._timers: dict[str, asyncio.Task[None]] = {}

    def down(self, server: str) -> None:
        if server not in self._timers:
            task = asyncio.create_task(self._watch(server, time.monotonic()),
                                       name=f"reschedule-{server}")
            self._timers[server] = task
            task.add_done_callback(lambda t: self._forget(server, t))

    def _forget(self, server: str, task: asyncio.Task[None]) -> None:
        if self._timers.get(server) is task:
            del self._timers[server]

    def up(self, server: str) -> None:
        task = self._timers.pop(server, None)
        if task is not None:
            task.cancel()

    async def close(self) -> None:
        tasks = list(self._timers.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _watch(self, server: str, since: float) -> None:
        moved: set[tuple[str, str]] = set()  # asked once per outage
        while True:
            records = [r for r in await self.store.containers.query(server=server)
                       if (r.stack, r.service) not in moved]
            now, later = due(records, await limits_of(self.store, records),
                             time.monotonic() - since)
            if now and (await self.store.servers.get(server)).state == "down":
                for stack, services in now.items():
                    moved |= {(stack, s) for s in services}
                    await self._move(server, stack, services, time.monotonic() - since)
            if later is None:
                return
            await asyncio.sleep(later + 0.05)

    async def _move(self, server: str, stack: str, services: list[str],
                    down_for: float) -> None:
        actor = (f"c66d: server {server} down for {down_for:.0f}s; moves "
                 + ", ".join(services))
        await self.store.healing.record("reschedule", server=server, stack=stack,
                                        message=actor)
        try:
            await self.start(stack, services, actor)
        except C66dError as exc:
            self.log.warning("cannot move %s of %s off %s: %s", services, stack, server,
                             exc.message)
        else:
            self.log.info("%s", actor)
