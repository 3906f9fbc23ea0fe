"""Runs provisioning: create the node, wait for it to run, add it as a server; destroy it with
its server. Pure parts and the libcloud calls are in provision.py."""

from __future__ import annotations

import asyncio
import contextlib
import time

from aiohttp import web
from libcloud.common.types import LibcloudError
from libcloud.compute.base import NodeDriver

from c66d.errors import Invalid
from c66d.events import EventBus
from c66d.logs import get_logger
from c66d.orchestrator.provision import (
    BOOT_POLL,
    BOOT_TIMEOUT,
    RUNNING,
    ProvisionFailed,
    ProvisionSpec,
    create_node,
    destroy,
    make_driver,
    running_address,
)
from c66d.orchestrator.servers import Servers, ServerSpec
from c66d.store import Store
from c66d.store.cloud import CloudNode

log = get_logger("c66d.orchestrator.provision")


class Provisioner:
    def __init__(self, store: Store, servers: Servers, events: EventBus, *,
                 boot_timeout: float = BOOT_TIMEOUT, poll: float = BOOT_POLL) -> None:
        self.store, self.servers, self.events = store, servers, events
        self.boot_timeout, self.poll = boot_timeout, poll
        self._drivers: dict[tuple[str, ...], NodeDriver] = {}  # one per account
        self._tasks: set[asyncio.Task[None]] = set()

    def driver(self, name: str, credentials: dict[str, str]) -> NodeDriver:
        account = (name, *(f"{k}={v}" for k, v in sorted(credentials.items())))
        if account not in self._drivers:
            self._drivers[account] = make_driver(name, credentials)
        return self._drivers[account]

    async def provision(self, spec: ProvisionSpec) -> CloudNode:
        name = spec.server.name
        record = await self.store.cloud.add(name, spec.driver, spec.credentials, spec.stored())
        try:
            driver = self.driver(spec.driver, spec.credentials)
            node = await asyncio.to_thread(create_node, driver, name, record.spec,
                                           self.servers.public_key)
        except Invalid:
            await self.store.cloud.remove(name)
            raise
        except (LibcloudError, OSError, ValueError, TypeError) as exc:
            await self.store.cloud.remove(name)
            raise ProvisionFailed(f"{spec.driver} did not create {name}: {exc}") from exc
        await self.store.cloud.update(name, state="booting", node_id=str(node.id))
        log.info("node %s of %s created on %s", node.id, name, spec.driver)
        self.events.publish("server.provisioning", server=name, node=str(node.id))
        self._spawn(name)
        return await self.store.cloud.get(name)

    def _spawn(self, name: str) -> None:
        task = asyncio.create_task(self._boot(name), name=f"provision-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _boot(self, name: str) -> None:
        record = await self.store.cloud.get(name)
        driver = self.driver(record.driver, record.credentials)
        deadline = time.monotonic() + self.boot_timeout
        state, address = "", ""
        while time.monotonic() < deadline:
            try:
                state, address = await asyncio.to_thread(running_address, driver,
                                                         record.node_id)
            except (LibcloudError, OSError) as exc:
                state = f"unknown ({exc})"
            if (state == RUNNING and address) or state == "gone":
                break
            await asyncio.sleep(self.poll)
        if state != RUNNING or not address:
            why = ("the provider no longer lists the node" if state == "gone" else
                   f"the node did not run with an address within {self.boot_timeout:g} s"
                   f" (last state {state or 'unknown'})")
            await self.store.cloud.update(name, state="failed", reason=why)
            self.events.publish("server.provision_failed", server=name, reason=why)
            log.warning("provisioning %s failed: %s", name, why)
            return
        spec = record.spec
        await self.servers.add(ServerSpec(name, address, int(spec["port"]), spec["user"],
                                          spec["docker_socket"], list(spec["roles"])))
        await self.store.cloud.update(name, state="ready", address=address)
        log.info("node of %s runs at %s; added as a server", name, address)

    async def release(self, name: str) -> None:
        """Destroy the node behind a removed server (nothing when it was brought by hand)."""
        record = await self.store.cloud.find(name)
        if record is None:
            return
        await self.store.cloud.update(name, state="destroying")
        try:
            driver = self.driver(record.driver, record.credentials)
            gone = await asyncio.to_thread(destroy, driver, record.node_id)
        except (LibcloudError, OSError) as exc:
            await self.store.cloud.update(name, state="failed",
                                          reason=f"destroying the node failed: {exc}")
            log.warning("cannot destroy the node of %s: %s", name, exc)
            return
        await self.store.cloud.remove(name)
        log.info("node %s of %s %s", record.node_id, name,
                 "destroyed" if gone else "was already gone")

    async def run(self) -> None:
        """Resume nodes left booting by a previous run; destroy nodes of removed servers."""
        for record in await self.store.cloud.all():
            if record.state == "booting":
                self._spawn(record.server)
        with self.events.subscribe(["server.removed"]) as events:
            while True:
                event = await events.queue.get()
                await self.release(str(event.data["server"]))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task


PROVISIONER = web.AppKey("provisioner", Provisioner)
