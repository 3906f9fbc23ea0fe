"""After c66d stopped (or was killed) in the middle of a rollout: close it and resume it.

At start, every deployment left pending or running is closed as failed, saying which
deployment resumes it. Containers it started but never saw healthy, and old containers it was
draining, are marked `abandoned` (the reconciler removes them once it reaches their server);
containers it created but never recorded are strays the reconciler removes too. Healthy
containers are never touched, so nothing that served stops because c66d restarted.

The newest request per stack is then carried out again as a new deployment with the same
snapshot, once the servers its containers run on are up again (bounded wait): the planner
keeps what already matches and finishes the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

from c66d.errors import NotFound
from c66d.events import EventBus
from c66d.logs import get_logger
from c66d.store import Deployment, Store

RESUME_WAIT = 60.0  # seconds to wait for a stack's servers before resuming anyway
log = get_logger("c66d.deployments")


def closing_reason(number: int | None, newest: bool) -> str:
    if number is None:
        return "c66d stopped during the rollout; not resumed: the stack is gone"
    if newest:
        return f"c66d stopped during the rollout; resumed as deployment {number}"
    return f"c66d stopped before this rollout ran; deployment {number} carries out the newest"


async def servers_up(store: Store, events: EventBus, names: set[str],
                     wait: float = RESUME_WAIT) -> None:
    """Return once every named server is up (or gone), or after `wait` seconds."""
    deadline = time.monotonic() + wait
    with events.subscribe(("server.",)) as sub:
        while time.monotonic() < deadline:
            known = {s.name: s.state for s in await store.servers.all()}
            if all(known.get(name, "up") == "up" for name in names):
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sub.get(), max(0.1, deadline - time.monotonic()))
    log.warning("servers %s not all up after %gs; resuming anyway", sorted(names), wait)


Starter = Callable[[str, dict[str, object], str, Callable[[], Awaitable[None]]],
                   Awaitable[Deployment]]


async def resume_unfinished(store: Store, events: EventBus, start: Starter) -> list[int]:
    """Close what a previous process left unfinished and resume the newest per stack.
    Returns the ids of the deployments closed."""
    unfinished = await store.deployments.unfinished()
    newest = {d.stack: d for d in unfinished}  # ordered by id: the last one wins
    left = {d.id: await store.healing.abandon(d.stack, d.number) for d in unfinished}
    resumed: dict[str, int | None] = {}
    for stack, last in newest.items():
        try:
            await store.stacks.get(stack)
        except NotFound:
            resumed[stack] = None
            continue
        names = {r.server for r in await store.containers.query(stack=stack)}

        async def wait(names: set[str] = names) -> None:
            await servers_up(store, events, names)

        deployment = await start(stack, last.snapshot,
                                 f"c66d restart (resumes deployment {last.number})", wait)
        resumed[stack] = deployment.number
    for d in unfinished:  # abandoned before the resumed rollouts plan, closed after
        abandoned = left[d.id]
        reason = closing_reason(resumed[d.stack], d.id == newest[d.stack].id)
        if abandoned:
            await store.deployments.add_step(
                d.id, "recover", message="left to remove: " + ", ".join(
                    f"{r.name} ({r.state})" for r in abandoned))
        await store.deployments.set_status(d.id, "failed", reason)
        await store.deployments.add_step(d.id, "finish", status="failed", message=reason)
        log.info("deployment %s of %s: %s", d.number, d.stack, reason)
    return [d.id for d in unfinished]
