"""The reconciler of one server: follows its engine's events and keeps actual == desired.

It re-lists the engine after every gap (start, reconnect, a broken event stream) and after
every event about a c66d container, asks `reconcile.decide` what to do, and does it: restart a
container that exited (with a back-off when it keeps crashing), recreate one removed by hand
from its recorded create config, remove containers nothing wants. Every action is recorded
(store.healing) and published on the bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiodocker
import aiohttp
from aiodocker.events import DockerEvents

from c66d import jsonio
from c66d.errors import C66dError
from c66d.events import EventBus
from c66d.logs import get_logger
from c66d.orchestrator.containers import MANAGED, container_address
from c66d.orchestrator.health import wait_healthy
from c66d.orchestrator.reach import Reach
from c66d.orchestrator.rebuild import rebuild_config
from c66d.orchestrator.reconcile import (
    ABANDONED,
    CRASHLOOP,
    DOWN_STATES,
    Action,
    backoff,
    decide,
    seen_from_engine,
)
from c66d.orchestrator.servicefile import parse_service_file
from c66d.orchestrator.spec import ServiceSpec
from c66d.store import ContainerRecord, Store

LOG_LINES = 20
RESYNC = 30.0  # a full re-list this often even when the engine said nothing
RETRY = 1.0  # after the engine or its event stream failed
SETTLE_WAIT = 5.0  # seconds a restart waits for the engine to see the container stopped


@dataclass(frozen=True)
class HealDeps:
    store: Store
    events: EventBus
    reach: Reach
    # Brings a server's load balancer in line with the store (lbapply.Balancer.update).
    balance: Callable[[str], Awaitable[object]] | None = None


def container_event(record: ContainerRecord, service: ServiceSpec | None,
                    **extra: Any) -> dict[str, Any]:
    """The data of container.* events (what DNS and the balancer read)."""
    ports = [] if service is None else [
        {"container": p.container, "protocol": "udp" if p.udp else "tcp"} for p in service.ports]
    return {"id": record.id, "name": record.name, "stack": record.stack,
            "service": record.service, "server": record.server, "address": record.address,
            "version": record.deployment, "ports": ports, **extra}


class ServerReconciler:
    def __init__(self, server: str, deps: HealDeps) -> None:
        self.server, self.deps = server, deps
        self.log = get_logger("c66d.reconciler", server=server)
        self._dirty = asyncio.Event()
        self._due: float | None = None
        self._working: set[str] = set()  # container ids with a health check under way
        self._tasks: set[asyncio.Task[None]] = set()
        self._main: asyncio.Task[None] | None = None
        self._specs: dict[tuple[str, int], dict[str, ServiceSpec]] = {}
        self._died: set[str] = set()  # said `die` on the event stream, no `start` since
        self.passes = 0

    def start(self) -> None:
        self._main = asyncio.create_task(self._run(), name=f"reconcile-{self.server}")

    def kick(self) -> None:
        """Look again now (a server came back, a deployment finished, ...)."""
        self._dirty.set()

    async def stop(self) -> None:
        tasks = [t for t in (self._main, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the engine went away or answered nonsense: retry
                if not isinstance(exc, (C66dError, aiodocker.DockerError, OSError,
                                        aiohttp.ClientError)):
                    self.log.exception("reconciler pass failed")
                else:
                    self.log.debug("engine not reachable: %s", exc)
            self._dirty.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RETRY):
                    await self._dirty.wait()

    async def _follow(self) -> None:
        """Subscribe to the engine's events, then re-list; every event means look again."""
        docker = self.deps.reach.docker(self.server)
        stream = DockerEvents(docker)  # type: ignore[no-untyped-call]
        filters = {"type": ["container"], "label": [f"{MANAGED}=true"]}
        sub = stream.subscribe(  # type: ignore[no-untyped-call]
            filters=jsonio.dumps(filters), since=str(int(time.time()) - 1))
        ended = asyncio.Event()
        self._died.clear()  # the subscription replays the last second; the list tells the rest

        async def watch() -> None:
            while (event := await sub.get()) is not None:
                self._note_event(event)
                self._dirty.set()
            ended.set()
            self._dirty.set()  # wake the loop: it subscribes again and re-lists
            self._dirty.set()  # wake the loop: it subscribes again and re-lists

        watcher = asyncio.create_task(watch(), name=f"engine-events-{self.server}")
        try:
            self._dirty.set()  # the gap before this subscription: re-list
            while not ended.is_set():
                await self._wait()
                if ended.is_set():
                    break
                await self.pass_once()
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await stream.stop()  # type: ignore[no-untyped-call]
        self.log.info("engine event stream ended; re-listing after %gs", RETRY)

    def _note_event(self, event: dict[str, Any]) -> None:
        """Remember containers the engine said died: its container list may still show one
        running for a moment after the `die` event, and no later event would wake us."""
        action = str(event.get("Action") or event.get("status") or "")
        ident = str((event.get("Actor") or {}).get("ID") or event.get("id") or "")
        if action in ("die", "oom"):
            self._died.add(ident)
        elif action in ("start", "destroy"):
            self._died.discard(ident)

    async def _wait(self) -> None:
        timeout = RESYNC
        if self._due is not None:
            timeout = max(0.0, min(timeout, self._due - time.time()))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._dirty.wait()
        self._dirty.clear()
        await asyncio.sleep(0.05)  # a burst of events (kill: kill, die, stop) is one pass

    async def pass_once(self) -> list[Action]:
        """One comparison of the store and the engine, and the actions it calls for."""
        store = self.deps.store
        busy = {(d.stack, d.number) for d in await store.deployments.unfinished()}
        stacks = {s.name for s in await store.stacks.all()}
        records = await store.containers.query(server=self.server)  # before listing: see below
        listed = await self.deps.reach.docker(self.server).containers.list(
            all=True, filters={"label": [f"{MANAGED}=true"]})
        seen = [s for s in (seen_from_engine(c._container) for c in listed) if s is not None]
        seen = [dataclasses.replace(s, running=False) if s.id in self._died else s
                for s in seen]
        actions = decide(records, seen, stacks=stacks, busy=busy, now=time.time())
        self.passes += 1
        self._due = None
        acted = False
        for action in actions:
            if action.container in self._working:
                continue
            if action.kind == "wait":
                self._due = action.due if self._due is None else min(self._due, action.due)
                continue
            acted = True
            try:
                await self.apply(action)
            except (aiodocker.DockerError, C66dError) as exc:
                message = exc.message if isinstance(exc, C66dError) else str(exc.message)
                self.log.warning("%s %s failed: %s", action.kind, action.name, message)
                await self.note(action, f"{action.kind}-failed", message)
                self._due = time.time() + RETRY
        if acted:
            await self.rebalance()
        return actions

    async def rebalance(self) -> None:
        """Only serving containers stay behind the server's load balancer."""
        if self.deps.balance is None:
            return
        try:
            await self.deps.balance(self.server)
        except C66dError as exc:
            self.log.warning("load balancer not updated: %s", exc.message)

    async def apply(self, action: Action) -> None:
        handlers = {"died": self.died, "restart": self.restart, "recreate": self.recreate,
                    "check": self.check, "stable": self.stable, "remove": self.remove,
                    "forget": self.remove}
        await handlers[action.kind](action)

    async def note(self, action: Action, what: str, message: str = "") -> None:
        await self.deps.store.healing.record(
            what, server=self.server, stack=action.stack, service=action.service,
            container=action.container, name=action.name, message=message)
        self.log.info("%s %s %s", what, action.name, message)

    async def current(self, action: Action) -> ContainerRecord | None:
        """The record as it is now (a rollout may have changed it since the pass began)."""
        try:
            record = await self.deps.store.containers.get(action.container)
        except C66dError:
            return None
        return None if record.state in ("draining", ABANDONED) else record

    async def service_of(self, record: ContainerRecord) -> ServiceSpec | None:
        key = (record.stack, record.deployment)
        if key not in self._specs:
            try:
                deployment = await self.deps.store.deployments.by_number(*key)
                spec = parse_service_file(deployment.snapshot["service_yml"])
            except (C66dError, KeyError):
                return None
            self._specs[key] = dict(spec.services)
        return self._specs[key].get(record.service)

    async def last_lines(self, container_id: str) -> str:
        try:
            container = self.deps.reach.docker(self.server).containers.container(container_id)
            lines = await container.log(stdout=True, stderr=True, tail=LOG_LINES)
        except aiodocker.DockerError:
            return ""
        return "".join(lines).strip()[-4000:]

    async def died(self, action: Action) -> None:
        record = await self.current(action)
        if record is None or record.state in DOWN_STATES:
            return
        exit_code, tail = "", ""
        if action.reason == "exited":  # both at once: over SSH each is a round trip
            info, tail = await asyncio.gather(self.state_of(record.id),
                                              self.last_lines(record.id))
            if info:
                exit_code = f" with code {info.get('ExitCode')}"
        restarts = record.restarts + 1
        state = "crashloop" if restarts >= CRASHLOOP else "restarting"
        delay = backoff(restarts)
        await self.deps.store.healing.crashed(record.id, state, restarts, time.time() + delay,
                                              tail or record.last_log)
        message = f"{action.reason}{exit_code}; restart {restarts} in {delay:g}s"
        await self.note(action, action.reason, message)
        service = await self.service_of(record)
        self.deps.events.publish("container.stopped", **container_event(
            record, service, state=state, reason=message, restarts=restarts))
        if delay == 0:  # at once, in this pass
            kind = "restart" if action.reason == "exited" else "recreate"
            await self.apply(dataclasses.replace(action, kind=kind))

    async def state_of(self, container_id: str) -> dict[str, Any]:
        try:
            info = await self.deps.reach.docker(self.server).containers.container(
                container_id).show()
        except aiodocker.DockerError:
            return {}
        state: dict[str, Any] = info.get("State") or {}
        return state

    async def restart(self, action: Action) -> None:
        record = await self.current(action)
        if record is None:
            return
        container = self.deps.reach.docker(self.server).containers.container(record.id)
        # The engine may still be finishing its death (start would then do nothing).
        with contextlib.suppress(TimeoutError, aiodocker.DockerError):
            await container.wait(timeout=SETTLE_WAIT, condition="not-running")
        await container.start()
        address = container_address(await container.show())
        await self.deps.store.healing.restarted(record.id, address)
        await self.note(action, "restarted", f"restart {record.restarts} ({action.reason})")
        await self.started(record, "container.restarted", address)

    async def recreate(self, action: Action) -> None:
        record = await self.current(action)
        if record is None:
            return
        config = await self.deps.store.healing.config_of(record.name)
        if config is None:  # recorded before configs were saved: from its deployment
            config, why = await rebuild_config(self.deps.store, self.deps.reach, record)
            if config is None:
                await self.note(action, "lost", f"no create config ({why}); record dropped")
                await self.deps.store.containers.remove(record.id)
                self.deps.events.publish("container.removed", **container_event(record, None))
                return
            await self.deps.store.healing.save_config(record.name, self.server, config)
            await self.note(action, "rebuilt", f"create config from deployment "
                                               f"{record.deployment}")
        docker = self.deps.reach.docker(self.server)
        container = await docker.containers.create_or_replace(record.name, config)
        await container.start()
        address = container_address(await container.show())
        fresh = await self.deps.store.healing.recreated(record.id, container.id, address)
        await self.note(action, "recreated", f"as {container.id[:12]} ({action.reason})")
        self.deps.events.publish("container.removed", **container_event(record, None))
        await self.started(fresh, "container.recreated", address, previous=record.id)

    async def started(self, record: ContainerRecord, kind: str, address: str,
                      **extra: Any) -> None:
        service = await self.service_of(record)
        now_record = ContainerRecord(**{**record.__dict__, "address": address})
        self.deps.events.publish(kind, **container_event(now_record, service, **extra))
        self._spawn_check(now_record, service)

    async def check(self, action: Action) -> None:
        record = await self.current(action)
        if record is not None:
            self._spawn_check(record, await self.service_of(record))

    def _spawn_check(self, record: ContainerRecord, service: ServiceSpec | None) -> None:
        self._working.add(record.id)
        task = asyncio.create_task(self._health(record, service), name=f"heal-{record.name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _health(self, record: ContainerRecord, service: ServiceSpec | None) -> None:
        try:
            healthy, why = await self._probe(record, service)
            fresh = await self.current(Action("check", record.id, record.name))
            if fresh is None or fresh.id != record.id or fresh.state in DOWN_STATES:
                return
            if healthy:
                await self.deps.store.containers.set_state(record.id, "healthy", "healthy")
                self.deps.events.publish("container.healthy", **container_event(record, service))
            else:
                await self.deps.store.containers.set_state(record.id, "starting", why)
            await self.rebalance()
        except (aiodocker.DockerError, C66dError, OSError) as exc:
            self.log.warning("health check of %s: %s", record.name, exc)
        finally:
            self._working.discard(record.id)
            self._dirty.set()

    async def _probe(self, record: ContainerRecord,
                     service: ServiceSpec | None) -> tuple[bool, str]:
        reach = self.deps.reach

        async def dial(host: str, port: int) -> tuple[asyncio.StreamReader,
                                                      asyncio.StreamWriter]:
            return await reach.dial(self.server, host, port)

        async def alive() -> tuple[bool, str]:
            info = await reach.docker(self.server).containers.container(record.id).show()
            state = info.get("State") or {}
            running = bool(state.get("Running")) and not state.get("Restarting")
            return running, "" if running else f"exited with code {state.get('ExitCode')}"

        port = service.ports[0].container if service is not None and service.ports else None
        result = await wait_healthy(None if service is None else service.health,
                                    record.address, port, dial, alive)
        return result.healthy, result.reason

    async def stable(self, action: Action) -> None:
        await self.deps.store.healing.stable(action.container)
        await self.note(action, "stable", action.reason)

    async def remove(self, action: Action) -> None:
        docker = self.deps.reach.docker(self.server)
        try:
            await docker.containers.container(action.container).delete(force=True)
        except aiodocker.DockerError as exc:
            if exc.status != 404:
                raise
        try:
            record: ContainerRecord | None = await self.deps.store.containers.get(
                action.container)
        except C66dError:
            record = None
        if record is not None:
            await self.deps.store.containers.remove(record.id)
            self.deps.events.publish("container.removed", **container_event(record, None))
        await self.note(action, "removed", action.reason)
        self.deps.events.publish("reconciler.removed", id=action.container, name=action.name,
                                 stack=action.stack, service=action.service,
                                 server=self.server, reason=action.reason)
