"""Self-healing: a reconciler per server, and what a server going down means for its containers.

A server marked down (server.down, after its grace period) has its containers marked `unknown`
and published as container.stopped, so DNS and the load balancer stop sending traffic there.
When it is up again its reconciler re-lists it: running containers are checked and come back
into DNS as container.healthy; dead ones are restarted or recreated.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from c66d.auth import allowed, identity_of
from c66d.events import Event, EventBus, Subscription
from c66d.keys import EVENTS, STORE
from c66d.logs import get_logger
from c66d.orchestrator.lbapply import BALANCER
from c66d.orchestrator.reach import Reach
from c66d.orchestrator.reconcile import UNKNOWN
from c66d.orchestrator.reconciler import HealDeps, ServerReconciler, container_event
from c66d.orchestrator.reschedule import Rescheduler
from c66d.orchestrator.routes_deploy import DEPLOYER
from c66d.store import ContainerAction, Store
from c66d.web.access import access
from c66d.web.api import json_response, page_params


class Reconcilers:
    """One ServerReconciler per server, started and stopped with servers and with c66d."""

    def __init__(self, store: Store, events: EventBus, reach: Reach,
                 balance: Callable[[str], Awaitable[object]] | None = None,
                 rescheduler: Rescheduler | None = None) -> None:
        self.deps = HealDeps(store, events, reach, balance)
        self.rescheduler = rescheduler  # moves containers off servers down too long
        self.by_server: dict[str, ServerReconciler] = {}
        self.log = get_logger("c66d.reconciler")
        self._listener: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # Subscribed before the first pass so no server.up/down is missed in between.
        sub = self.deps.events.subscribe(("server.", "stack.deleted", "deployment.finished"))
        self._listener = asyncio.create_task(self._listen(sub), name="reconcilers")
        for server in await self.deps.store.servers.all():
            self._spawn(server.name)

    async def close(self) -> None:
        """Stop watching; containers are left exactly as they run."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        if self.rescheduler is not None:
            await self.rescheduler.close()
        for reconciler in list(self.by_server.values()):
            await reconciler.stop()
        self.by_server.clear()

    def _spawn(self, server: str) -> None:
        if server not in self.by_server:
            reconciler = ServerReconciler(server, self.deps)
            self.by_server[server] = reconciler
            reconciler.start()

    def kick_all(self) -> None:
        for reconciler in self.by_server.values():
            reconciler.kick()

    async def _listen(self, sub: Subscription) -> None:
        with sub:
            async for event in sub:
                try:
                    await self._on(event)
                except Exception:  # one bad event must not end self-healing
                    self.log.exception("handling %s", event.kind)

    async def _on(self, event: Event) -> None:
        server = str(event.data.get("server", ""))
        if event.kind in ("server.up", "server.removed") and self.rescheduler is not None:
            self.rescheduler.up(server)
        if event.kind in ("server.added", "server.up"):
            self._spawn(server)
            self.by_server[server].kick()
        elif event.kind == "server.down":
            await self.server_down(server, str(event.data.get("reason", "")))
            if self.rescheduler is not None:
                self.rescheduler.down(server)
        elif event.kind == "server.removed":
            reconciler = self.by_server.pop(server, None)
            if reconciler is not None:
                await reconciler.stop()
        else:  # a stack deleted, a rollout finished: what it left is looked at again
            self.kick_all()

    async def server_down(self, server: str, reason: str) -> None:
        """Its containers: `unknown`, out of DNS and the balancer until it answers again."""
        store, events = self.deps.store, self.deps.events
        records = await store.healing.mark_server(server, UNKNOWN)
        for record in records:
            events.publish("container.stopped", **container_event(
                record, None, state=UNKNOWN, reason=f"server {server} is down"))
        if records:
            await store.healing.record("unknown", server=server,
                                       message=f"{len(records)} containers unknown: {reason}")
            events.publish("reconciler.unknown", server=server, count=len(records),
                           reason=reason)


RECONCILERS = web.AppKey("reconcilers", Reconcilers)


def action_view(action: ContainerAction) -> dict[str, object]:
    return dict(action.__dict__)


@access("user")
async def list_actions(request: web.Request) -> web.Response:
    """`GET /api/v1/reconciler/actions?server=&stack=&limit=`: newest first, readable stacks."""
    limit, _ = page_params(request, default=100, most=1000)
    q = request.query
    who = identity_of(request)
    items = await request.app[STORE].healing.actions(
        server=q.get("server", ""), stack=q.get("stack", ""), limit=limit)
    shown = [action_view(a) for a in items
             if allowed(who, "read", a.stack) or (not a.stack and allowed(who, "admin", None))]
    return json_response({"items": shown})


async def _reconcilers_ctx(app: web.Application) -> AsyncIterator[None]:
    """After the deployer (which closes what a previous process left unfinished)."""
    balancer = app.get(BALANCER)
    deployer = app[DEPLOYER]

    async def move(stack: str, services: list[str], actor: str) -> object:
        return await deployer.reschedule(stack, services, actor)

    reconcilers = Reconcilers(app[STORE], app[EVENTS], deployer.reach,
                              None if balancer is None else balancer.update,
                              Rescheduler(app[STORE], move))
    app[RECONCILERS] = reconcilers
    await reconcilers.start()
    yield
    await reconcilers.close()


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_reconcilers_ctx)
    app.router.add_get("/api/v1/reconciler/actions", list_actions)
