"""Carry out one deployment: service by service in `requires` order, zero downtime.

Start the new containers, wait for their health, publish them, then drain and remove the old
ones. A failed health check removes the new containers and leaves the old ones serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import aiodocker

from c66d.errors import C66dError
from c66d.events import EventBus
from c66d.logs import get_logger
from c66d.orchestrator.capacity import with_memory
from c66d.orchestrator.containers import (
    MANAGED,
    ContainerSpec,
    container_address,
    container_spec,
    one_off_spec,
)
from c66d.orchestrator.draining import Drainer
from c66d.orchestrator.envrefs import resolve
from c66d.orchestrator.errors import (
    HealthCheckFailed,
    ImageUnavailable,
    NoServerFits,
    RolloutFailed,
)
from c66d.orchestrator.fanout import across, by_server
from c66d.orchestrator.health import HealthResult, wait_healthy
from c66d.orchestrator.lbapply import Balancer
from c66d.orchestrator.plan import Running, ServerSlot, eligible, plan_service
from c66d.orchestrator.reach import Reach
from c66d.orchestrator.reconcile import UNKNOWN
from c66d.orchestrator.servicefile import parse_service_file
from c66d.orchestrator.spec import ServiceSpec, StackSpec
from c66d.orchestrator.testhook import maybe_pause
from c66d.store import ContainerRecord, Deployment, Store

LOG_LINES = 20
CONNECTING_WAIT = 15.0  # seconds a rollout waits for servers whose link is still connecting
# Containers a rollout counts as running (restarting/crashloop: the reconciler's, replaced
# like any other when the spec changes).
RUNNING_STATES = ("starting", "healthy", "running", "restarting", "crashloop")
# Planned too: `unknown` ones (their server is down) are never kept there, so replacements start
# on servers that answer and the old ones are abandoned to the reconciler (see drain).
PLANNED_STATES = (*RUNNING_STATES, UNKNOWN)


class Rollout:
    def __init__(self, store: Store, events: EventBus, reach: Reach, deployment: Deployment,
                 registry_auth: dict[str, str] | None = None,
                 balancer: Balancer | None = None) -> None:
        self.store, self.events, self.reach = store, events, reach
        self.balancer = balancer  # nginx per SSH server; None: no load balancing
        self.deployment = deployment
        self.stack = deployment.stack
        self.registry_auth = registry_auth
        self.log = get_logger("c66d.rollout", stack=self.stack, deployment=deployment.number)
        snapshot = deployment.snapshot
        self.spec: StackSpec = parse_service_file(snapshot["service_yml"])
        self.images: dict[str, str] = snapshot["images"]
        self.counts: dict[str, int] = snapshot["counts"]
        self.only = frozenset(snapshot.get("only", ()))  # just these services (empty: all)
        self.env: dict[str, str] = {}
        self.drainer = Drainer(store, events, reach, self.step, self.unbalance, self.remove_all,
                               self.event_data, self.log)

    async def step(self, action: str, *, service: str = "", server: str = "",
                   status: str = "ok", message: str = "") -> None:
        await self.store.deployments.add_step(self.deployment.id, action, service=service,
                                              server=server, status=status, message=message)
        self.events.publish("deployment.step", deployment=self.deployment.id, stack=self.stack,
                            number=self.deployment.number, step=action, service=service,
                            server=server, status=status, message=message)
        self.log.info("%s %s %s %s", action, service, server, message)
        await maybe_pause(action, service)

    async def run(self) -> None:
        await self.store.deployments.set_status(self.deployment.id, "running")
        self.events.publish("deployment.started", deployment=self.deployment.id,
                            stack=self.stack, number=self.deployment.number)
        sealed = self.deployment.snapshot.get("env")  # older deployments kept none
        self.env = self.store.stacks.open_env(sealed) if sealed else \
            await self.store.stacks.env(self.stack)
        try:
            for name in self.spec.start_order():
                if not self.only or name in self.only:
                    await self.roll_service(self.spec.services[name])
            await self.refresh_balancers()
        except RolloutFailed as exc:
            await self.finish("failed", exc.message)
            return
        except Exception as exc:  # an engine or store failure is this deployment's failure
            self.log.exception("rollout crashed")
            await self.finish("failed", f"internal error: {exc}")
            return
        await self.finish("succeeded", "")

    async def finish(self, status: str, reason: str) -> None:
        await self.step("finish", status="ok" if status == "succeeded" else "failed",
                        message=reason or status)
        await self.store.deployments.set_status(self.deployment.id, status, reason)
        self.events.publish("deployment.finished", deployment=self.deployment.id,
                            stack=self.stack, number=self.deployment.number, status=status,
                            reason=reason)

    async def servers(self) -> list[ServerSlot]:
        """App servers that answer. Right after c66d starts, links still connecting (state
        `unknown`) are waited for a little, so a deploy then does not miss them."""
        deadline = time.monotonic() + CONNECTING_WAIT
        while True:
            app = [s for s in await self.store.servers.all() if "app" in s.roles or not s.roles]
            if time.monotonic() > deadline or all(s.state != "unknown" for s in app):
                return [ServerSlot(s.name) for s in app if s.state == "up"]
            await asyncio.sleep(0.2)

    async def roll_service(self, service: ServiceSpec) -> None:
        image = self.images[service.name]
        env = resolve(service.name, service.env_vars, self.env)
        probe = container_spec(self.stack, service, image, env, self.deployment.number, 0)
        servers = await self.servers()
        if service.constraints.memory:  # placement respects what each server has left
            servers = await with_memory(self.reach, servers, self.stack, service.name)
        servers = eligible(servers, service.constraints.servers,
                           service.constraints.memory)
        current = await self.store.containers.query(stack=self.stack, service=service.name)
        running = [Running(c.id, c.server, c.config_hash) for c in current
                   if c.state in PLANNED_STATES]
        count = self.counts.get(service.name, 1)
        plan, unplaced = plan_service(service.name, count, probe.config_hash, servers, running,
                                      restart=service.restart_on_deploy,
                                      memory_each=service.constraints.memory)
        if unplaced:
            raise NoServerFits(f"service {service.name}: {unplaced} of {count} containers fit "
                               "no server (check constraints.servers, memory and whether "
                               "the servers are up)")
        if not plan.changes:
            await self.step("unchanged", service=service.name, message=f"{len(plan.keep)} kept")
            return
        await self.step("plan", service=service.name,
                        message=f"start {len(plan.start)}, keep {len(plan.keep)}, "
                                f"stop {len(plan.stop)}")
        old = [c for c in current if c.id in set(plan.stop)]
        started = await self.bring_up(service, image, env, plan.start, old)
        await self.balance(service, started, old)
        await across(old, lambda record: self.drainer.drain(service, record),
                     serial=service.rollout == "serial")

    async def bring_up(self, service: ServiceSpec, image: str, env: dict[str, str],
                       start: tuple[str, ...], old: list[ContainerRecord]
                       ) -> list[ContainerRecord]:
        """Pull, start and health-check the new containers on every server at once, or one
        server after another (`rollout: serial`). A failure removes all of them."""
        serial = service.rollout == "serial"
        batches = list(by_server(start).values()) if serial else [list(range(len(start)))]
        started: list[ContainerRecord] = []
        try:
            for n, batch in enumerate(batches):
                servers = sorted({start[i] for i in batch})
                await across(servers, lambda server: self.ensure_image(
                    server, image, service.name), serial=serial)
                if n == 0 and start and service.deploy_command:
                    await self.run_once(start[0], service, image, env)
                if n == 0 and service.pre_start_signal:
                    await self.drainer.signal_all(old, service.pre_start_signal)
                fresh = await self.start_new(service, image, env, start, batch)
                await self.health_all(service, fresh)
                started += fresh
        except Exception:
            await self.remove_all(started)
            raise
        return started

    async def ensure_image(self, server: str, image: str, service: str) -> None:
        docker = self.reach.docker(server)
        try:
            await docker.images.inspect(image)
            return
        except aiodocker.DockerError:
            pass
        await self.step("pull", service=service, server=server, message=image)
        try:
            await docker.images.pull(image, auth=self.registry_auth)
        except aiodocker.DockerError as exc:
            raise ImageUnavailable(f"server {server} cannot pull {image}: {exc.message}") from exc

    async def run_once(self, server: str, service: ServiceSpec, image: str,
                       env: dict[str, str]) -> None:
        spec = one_off_spec(self.stack, service, image, env, self.deployment.number,
                            service.deploy_command)
        docker = self.reach.docker(server)
        await self.step("deploy_command", service=service.name, server=server,
                        message=service.deploy_command)
        config = spec.config
        attachment = await self.reach.attach(server, spec.name, self.stack)
        if attachment is not None:  # on ContainerNet like the service: reaches the stack by name
            config = attachment.apply(config)
        try:
            await self._run_once_in(docker, spec.name, config, service)
        finally:
            await self.reach.release(server, spec.name)

    async def _run_once_in(self, docker: aiodocker.Docker, name: str, config: dict[str, Any],
                           service: ServiceSpec) -> None:
        container = await docker.containers.create_or_replace(name, config)
        try:
            await container.start()
            result = await container.wait(timeout=600)
            code = int(result.get("StatusCode", -1))
            if code != 0:
                lines = "".join(await container.log(stdout=True, stderr=True, tail=LOG_LINES))
                raise RolloutFailed(f"deploy_command of {service.name} exited {code}: "
                                    f"{lines.strip()[-2000:]}")
        finally:
            await container.delete(force=True)

    async def start_new(self, service: ServiceSpec, image: str, env: dict[str, str],
                        start: tuple[str, ...], positions: list[int]) -> list[ContainerRecord]:
        """The containers at `positions` of the plan's start list: servers at once (or one
        after another when serial), a server's own one after another."""
        started: dict[int, ContainerRecord] = {}
        groups = by_server(start[i] for i in positions)

        async def on(server: str) -> None:
            for position in (positions[i] for i in groups[server]):
                spec = container_spec(self.stack, service, image, env, self.deployment.number,
                                      position + 1)
                try:
                    started[position] = await self.start_one(server, service, spec, image)
                except aiodocker.DockerError as exc:
                    raise RolloutFailed(f"cannot start {spec.name} on {server}: "
                                        f"{exc.message}") from exc

        try:
            await across(groups, on, serial=service.rollout == "serial")
        except Exception:
            await self.remove_all(list(started.values()))
            raise
        return [started[p] for p in sorted(started)]

    async def start_one(self, server: str, service: ServiceSpec, spec: ContainerSpec,
                        image: str) -> ContainerRecord:
        docker = self.reach.docker(server)
        attachment = await self.reach.attach(server, spec.name, self.stack)
        if attachment is not None:  # ContainerNet: its own address, c66d's DNS
            spec = ContainerSpec(spec.name, attachment.apply(spec.config), spec.config_hash)
        try:
            container = await docker.containers.create_or_replace(spec.name, spec.config)
            await container.start()
        except aiodocker.DockerError:
            with contextlib.suppress(aiodocker.DockerError):
                await docker.containers.container(spec.name).delete(force=True)
            await self.reach.release(server, spec.name)
            raise
        info = await container.show()
        now = time.time()
        record = ContainerRecord(
            id=container.id, name=spec.name, stack=self.stack, service=service.name,
            server=server, deployment=self.deployment.number, image=image,
            config_hash=spec.config_hash, address=container_address(info), state="starting",
            health="", created_at=now, updated_at=now,
        )
        await self.store.containers.upsert(record)
        await self.store.healing.save_config(spec.name, server, spec.config)
        await self.step("start", service=service.name, server=server,
                        message=f"{spec.name} {record.address}")
        self.events.publish("container.started", **self.event_data(record, service))
        return record

    def event_data(self, record: ContainerRecord, service: ServiceSpec) -> dict[str, Any]:
        return {
            "id": record.id, "name": record.name, "stack": record.stack,
            "service": record.service, "server": record.server, "address": record.address,
            "version": record.deployment,
            "ports": [{"container": p.container, "protocol": "udp" if p.udp else "tcp"}
                      for p in service.ports],
        }

    async def health_all(self, service: ServiceSpec, started: list[ContainerRecord]) -> None:
        port = service.ports[0].container if service.ports else None
        results = await asyncio.gather(*(self.check(service, r, port) for r in started))
        failed = [(r, res) for r, res in zip(started, results, strict=True) if not res.healthy]
        if failed:
            record, result = failed[0]
            tail = await self.last_lines(record)
            await self.step("health", service=service.name, server=record.server,
                            status="failed", message=result.reason)
            await self.remove_all(started)
            raise HealthCheckFailed(
                f"{record.name} on {record.server} is not healthy: {result.reason}"
                + (f"\nlast log lines:\n{tail}" if tail else ""))
        for record in started:
            await self.store.containers.set_state(record.id, "healthy", "healthy")
            # in DNS before the step is recorded: a rollout held there serves it already
            self.events.publish("container.healthy", **self.event_data(record, service))
            await self.step("healthy", service=service.name, server=record.server,
                            message=record.name)

    async def check(self, service: ServiceSpec, record: ContainerRecord,
                    port: int | None) -> HealthResult:
        async def dial(host: str, port: int) -> tuple[asyncio.StreamReader,
                                                      asyncio.StreamWriter]:
            return await self.reach.dial(record.server, host, port)

        async def alive() -> tuple[bool, str]:
            return await self.alive(record)

        return await wait_healthy(service.health, record.address, port, dial, alive)

    async def alive(self, record: ContainerRecord) -> tuple[bool, str]:
        info = await self.reach.docker(record.server).containers.container(record.id).show()
        state = info.get("State") or {}
        if state.get("Running") and not state.get("Restarting"):
            return True, ""
        return False, f"container exited with code {state.get('ExitCode')}"

    async def last_lines(self, record: ContainerRecord) -> str:
        try:
            container = self.reach.docker(record.server).containers.container(record.id)
            lines = await container.log(stdout=True, stderr=True, tail=LOG_LINES)
        except aiodocker.DockerError:
            return ""
        return "".join(lines).strip()

    async def remove_all(self, records: list[ContainerRecord]) -> None:
        for record in records:
            try:
                await self.reach.docker(record.server).containers.container(record.id).delete(
                    force=True)
            except aiodocker.DockerError as exc:
                if exc.status != 404:
                    self.log.warning("cannot remove %s: %s", record.name, exc.message)
            await self.store.containers.remove(record.id)
            await self.reach.release(record.server, record.name)
            self.events.publish("container.removed", id=record.id, name=record.name,
                                stack=record.stack, service=record.service,
                                server=record.server, address=record.address,
                                version=record.deployment, ports=[])

    async def balance(self, service: ServiceSpec, started: list[ContainerRecord],
                      old: list[ContainerRecord]) -> None:
        """Switch each server's nginx from the old containers (marked draining here) to the
        healthy new ones in one reload. If a server's nginx refuses, the new containers go
        and the old ones keep serving."""
        leaving = [r for r in old if self.drainer.reachable(r)]
        for record in leaving:
            await self.store.containers.set_state(record.id, "draining", "")
            self.events.publish("container.draining", **self.event_data(record, service))
        servers = sorted({r.server for r in [*started, *leaving]})
        serving = {r.server for r in started}

        async def switch(server: str) -> None:
            try:
                await self.update_balancer(service, server)
            except RolloutFailed:
                if server in serving or self.drainer.answers(server):
                    raise
                # only old containers there and it stopped answering: drain abandons them

        try:
            await across(servers, switch, serial=service.rollout == "serial")
        except RolloutFailed:
            await self.remove_all(started)
            for record in leaving:
                await self.store.containers.set_state(record.id, "healthy", "healthy")
                self.events.publish("container.healthy", **self.event_data(record, service))
            for other in servers:  # those already switched point back at the old ones
                with contextlib.suppress(C66dError):
                    await self.update_balancer(service, other)
            raise

    async def unbalance(self, service: ServiceSpec, record: ContainerRecord) -> None:
        """Take a draining container out of its server's nginx before it stops."""
        try:
            await self.update_balancer(service, record.server)
        except RolloutFailed:
            await self.store.containers.set_state(record.id, "healthy", "healthy")
            raise

    async def refresh_balancers(self) -> None:
        """nginx on each server of the stack follows what the deployment left and the stack's
        certificate variables (nothing is sent where the configuration is unchanged)."""
        if self.balancer is None:
            return
        up = {s.name for s in await self.store.servers.all() if s.state == "up"}
        servers = sorted({c.server for c in await self.store.containers.query(stack=self.stack)
                          if c.server in up})
        await across(servers, lambda server: self.update_balancer(ServiceSpec(""), server))

    async def update_balancer(self, service: ServiceSpec, server: str) -> None:
        if self.balancer is None:
            return
        try:
            done = await self.balancer.update(server)
        except C66dError as exc:
            await self.step("balancer", service=service.name, server=server, status="failed",
                            message=exc.message)
            raise RolloutFailed(exc.message) from exc
        if done is not None:
            await self.step("balancer", service=service.name, server=server,
                            message="; ".join(("nginx updated", *done.warnings)))


async def managed_containers(docker: aiodocker.Docker, stack: str) -> list[dict[str, Any]]:
    """Every container c66d labelled for the stack on one engine."""
    found = await docker.containers.list(
        all=True, filters={"label": [f"{MANAGED}=true", f"c66d.stack={stack}"]})
    return [c._container for c in found]
