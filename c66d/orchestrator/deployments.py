"""Start deployments and rollbacks; one rollout per stack at a time, in order."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from c66d.dns import DnsTable
from c66d.errors import C66dError, Invalid
from c66d.events import EventBus
from c66d.orchestrator.dnsfeed import apply_behaviours
from c66d.orchestrator.errors import ImageUnavailable
from c66d.orchestrator.lbapply import Balancer
from c66d.orchestrator.prune import prune_stack
from c66d.orchestrator.reach import Reach
from c66d.orchestrator.recovery import resume_unfinished
from c66d.orchestrator.rollout import Rollout
from c66d.orchestrator.stacks import desired_counts, spec_of
from c66d.store import Deployment, Stack, Store

log = logging.getLogger("c66d.deployments")

INTERRUPTED = "c66d stopped during the rollout"


def whole(snapshot: dict[str, Any]) -> dict[str, Any]:
    """A snapshot for a deployment of every service (a rescheduling one names a few)."""
    return {k: v for k, v in snapshot.items() if k != "only"}


class Deployer:
    """Owns the rollout tasks. Requests for one stack queue behind its lock, FIFO."""

    def __init__(self, store: Store, events: EventBus, reach: Reach,
                 registry_auth: Callable[[], dict[str, str]] | None = None,
                 dns_table: DnsTable | None = None, balancer: Balancer | None = None,
                 images_kept: int = 3) -> None:
        self.store, self.events, self.reach = store, events, reach
        self.registry_auth = registry_auth  # made fresh per rollout (short-lived pull token)
        self.balancer = balancer
        self.images_kept = images_kept
        self.dns_table = dns_table
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def images(self, stack: Stack) -> dict[str, str]:
        """The image of every service: its `image:`, or the newest successful build."""
        images: dict[str, str] = {}
        for name, service in spec_of(stack).services.items():
            if not service.builds:
                images[name] = service.image
                continue
            build = await self.store.builds.latest_succeeded(stack.name, name)
            if build is None or not build.digest:
                raise ImageUnavailable(
                    f"service {name} has no successful build yet: "
                    f"run `c66d build {stack.name} {name}` first")
            images[name] = f"{self.reach.registry}/{stack.name}/{name}@{build.digest}"
        return images

    async def deploy(self, stack_name: str, *, actor: str = "") -> Deployment:
        stack = await self.store.stacks.get(stack_name)
        snapshot = {
            "service_yml": stack.service_yml,
            "images": await self.images(stack),
            "counts": await desired_counts(self.store, stack),
            "env": await self.store.stacks.sealed_env(stack_name),
        }
        return await self._start(stack_name, snapshot, actor=actor)

    async def rollback(self, stack_name: str, number: Any = None, *,
                       actor: str = "") -> Deployment:
        """A new deployment with the spec and images of an earlier one (default: the last
        successful one before the current)."""
        if number is None:
            done = [d for d in await self.store.deployments.for_stack(stack_name, limit=100)
                    if d.status == "succeeded"]
            if len(done) < 2:
                raise Invalid(f"stack {stack_name!r} has no earlier successful deployment")
            target = done[1]
        else:
            if not isinstance(number, int) or isinstance(number, bool):
                raise Invalid("deployment must be a deployment number",
                              detail={"field": "deployment"})
            target = await self.store.deployments.by_number(stack_name, number)
        stack = await self.store.stacks.get(stack_name)
        snapshot = {**whole(target.snapshot), "counts": await desired_counts(self.store, stack)}
        return await self._start(stack_name, snapshot, actor=actor, rollback_of=target.number)

    async def rescale(self, stack_name: str, *, actor: str = "") -> Deployment | None:
        """Apply new container counts with the images of the last successful deployment."""
        last = await self.store.deployments.last_succeeded(stack_name)
        if last is None:
            return None
        stack = await self.store.stacks.get(stack_name)
        snapshot = {**whole(last.snapshot), "counts": await desired_counts(self.store, stack)}
        return await self._start(stack_name, snapshot, actor=actor)

    async def reschedule(self, stack_name: str, services: list[str], actor: str
                         ) -> Deployment | None:
        """Roll out only `services` with the last successful snapshot: their containers on
        servers that are down are started elsewhere (see reschedule.py)."""
        last = await self.store.deployments.last_succeeded(stack_name)
        if last is None:
            return None
        stack = await self.store.stacks.get(stack_name)
        snapshot = {**whole(last.snapshot), "counts": await desired_counts(self.store, stack),
                    "only": sorted(services)}  # kept in the snapshot: a resumed one does the same
        return await self._start(stack_name, snapshot, actor=actor)

    async def _start(self, stack: str, snapshot: dict[str, Any], *, actor: str,
                     rollback_of: int | None = None,
                     wait_for: Callable[[], Awaitable[None]] | None = None) -> Deployment:
        deployment = await self.store.deployments.create(stack, snapshot, actor=actor,
                                                         rollback_of=rollback_of)
        task = asyncio.create_task(self._run(deployment, wait_for), name=f"rollout-{stack}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return deployment

    async def _run(self, deployment: Deployment,
                   wait_for: Callable[[], Awaitable[None]] | None = None) -> None:
        lock = self._locks.setdefault(deployment.stack, asyncio.Lock())
        async with lock:
            if wait_for is not None:  # a resumed rollout: its servers first
                await wait_for()
            try:
                auth = self.registry_auth() if self.registry_auth is not None else None
                rollout = Rollout(self.store, self.events, self.reach, deployment, auth,
                                  balancer=self.balancer)
                if self.dns_table is not None:
                    apply_behaviours(self.dns_table, deployment.stack, rollout.spec)
                await rollout.run()
                if (await self.store.deployments.get(deployment.id)).status == "succeeded":
                    await self.prune(deployment)
            except asyncio.CancelledError:  # c66d stops: the next start resumes it
                await self.store.deployments.add_step(deployment.id, "interrupted",
                                                      status="failed", message=INTERRUPTED)
                raise

    async def prune(self, deployment: Deployment) -> None:
        """Servers keep the last `images_kept` images per service; never fails a rollout."""
        try:
            removed = await prune_stack(self.store, self.reach, deployment.stack,
                                        self.images_kept)
        except Exception:
            log.exception("pruning images of %s failed", deployment.stack)
            return
        if removed:
            await self.store.deployments.add_step(deployment.id, "prune",
                                                  message=", ".join(removed))

    async def wait_idle(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def recover(self) -> list[int]:
        """At start: deployments a previous process left unfinished are closed and the
        newest per stack resumed as a new deployment (see recovery.py)."""
        async def start(stack: str, snapshot: dict[str, Any], actor: str,
                        wait_for: Callable[[], Awaitable[None]]) -> Deployment:
            return await self._start(stack, snapshot, actor=actor, wait_for=wait_for)

        return await resume_unfinished(self.store, self.events, start)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)


def deployment_view(deployment: Deployment) -> dict[str, Any]:
    snap = deployment.snapshot
    return {
        "id": deployment.id, "stack": deployment.stack, "number": deployment.number,
        "status": deployment.status, "reason": deployment.reason,
        "rollback_of": deployment.rollback_of, "actor": deployment.actor,
        "images": snap.get("images", {}), "counts": snap.get("counts", {}),
        "created_at": deployment.created_at, "started_at": deployment.started_at,
        "finished_at": deployment.finished_at,
    }


async def deploy_after_builds(events: EventBus, deployer: Deployer) -> None:
    """A successful build of a stack with auto_deploy set deploys the stack."""
    with events.subscribe(["build.finished"]) as builds:
        async for event in builds:
            if not event.data.get("auto_deploy"):
                continue
            stack = str(event.data.get("stack", ""))
            try:
                deployment = await deployer.deploy(stack, actor=f"build {event.data.get('build')}")
            except C66dError as exc:
                log.warning("auto deploy of %s after build %s: %s", stack,
                            event.data.get("build"), exc.message)
                continue
            log.info("build %s deploys %s as deployment %s", event.data.get("build"), stack,
                     deployment.number)
