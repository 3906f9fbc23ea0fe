"""Taking a rollout's old containers out: the pre-start signal, the stop sequence, stop and
remove; a container whose server does not answer is abandoned instead (the reconciler removes
it when the server is back) so that one silent server never fails the whole rollout."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiodocker
import aiohttp

from c66d.errors import C66dError
from c66d.events import EventBus
from c66d.logs import ContextAdapter
from c66d.orchestrator.reach import Reach
from c66d.orchestrator.reconcile import ABANDONED, UNKNOWN
from c66d.orchestrator.spec import ServiceSpec
from c66d.store import ContainerRecord, Store

DRAIN_SLACK = 30.0  # seconds a drain may take beyond its stop sequence and stop_grace


@dataclass
class Drainer:
    """The draining part of one rollout; the rest it needs comes from the rollout."""

    store: Store
    events: EventBus
    reach: Reach
    step: Callable[..., Awaitable[None]]  # Rollout.step: a recorded deployment step
    unbalance: Callable[[ServiceSpec, ContainerRecord], Awaitable[None]]
    remove_all: Callable[[list[ContainerRecord]], Awaitable[None]]
    event_data: Callable[[ContainerRecord, ServiceSpec], dict[str, Any]]
    log: ContextAdapter

    async def signal_all(self, records: list[ContainerRecord], signal: str) -> None:
        for record in records:
            if not self.reachable(record):
                continue
            try:
                container = self.reach.docker(record.server).containers.container(record.id)
                await container.kill(signal=signal)
            except (aiodocker.DockerError, C66dError) as exc:
                self.log.warning("cannot signal %s: %s", record.name, exc.message)

    def reachable(self, record: ContainerRecord) -> bool:
        """Its server answers (as far as the link knows); an `unknown` one's does not."""
        return record.state != UNKNOWN and self.answers(record.server)

    def answers(self, server: str) -> bool:
        """Its link is up (the local engine always is)."""
        return server == "local" or self.reach.engines.connected(server)

    async def drain(self, service: ServiceSpec, record: ContainerRecord) -> None:
        """Drain an old container; one whose server does not answer is abandoned instead: the
        reconciler removes it when the server is back, and the rollout goes on."""
        if not self.reachable(record):
            await self.abandon(record, f"server {record.server} does not answer")
            return
        limit = DRAIN_SLACK + service.stop_grace + sum(s.seconds for s in service.pre_stop_sequence)
        try:
            async with asyncio.timeout(limit):
                await self.drain_reachable(service, record)
        except (C66dError, aiodocker.DockerError, OSError, aiohttp.ClientError,
                TimeoutError, RuntimeError) as exc:  # RuntimeError: its client was closed
            if self.reachable(record) and not isinstance(exc, TimeoutError | OSError
                                                         | aiohttp.ClientError):
                raise  # the server answers: a real failure (e.g. its nginx refused)
            await self.abandon(record, f"server {record.server} stopped answering: "
                                       f"{getattr(exc, 'message', None) or exc!r}")

    async def abandon(self, record: ContainerRecord, why: str) -> None:
        await self.store.containers.set_state(record.id, ABANDONED, "")
        self.events.publish("container.stopped", **event_data_plain(record),
                            state=ABANDONED, reason=why)
        await self.step("abandon", service=record.service, server=record.server,
                        message=f"{record.name}: {why}; removed when the server answers again")

    async def drain_reachable(self, service: ServiceSpec, record: ContainerRecord) -> None:
        """Out of DNS and the balancer first, then the stop sequence, then stop and remove."""
        await self.store.containers.set_state(record.id, "draining", "")
        self.events.publish("container.draining", **self.event_data(record, service))
        await self.unbalance(service, record)
        container = self.reach.docker(record.server).containers.container(record.id)
        for step in service.pre_stop_sequence:
            if step.signal:
                try:
                    await container.kill(signal=step.signal)
                except aiodocker.DockerError:
                    break  # it is gone already
            else:
                await asyncio.sleep(step.seconds)
        try:
            await container.stop(t=int(service.stop_grace))
        except aiodocker.DockerError as exc:
            if exc.status not in (304, 404):
                raise
        await self.remove_all([record])
        await self.step("stop", service=service.name, server=record.server, message=record.name)


def event_data_plain(record: ContainerRecord) -> dict[str, Any]:
    """container.* event data when the service spec is not at hand (no ports)."""
    return {"id": record.id, "name": record.name, "stack": record.stack,
            "service": record.service, "server": record.server,
            "address": record.address, "version": record.deployment, "ports": []}
