"""The deployment page: its steps (live over SSE), progress, and the step log."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from c66d.auth import require
from c66d.keys import STORE
from c66d.store import Step
from c66d.store.deployments import FINISHED
from c66d.web.access import access
from c66d.web.uikit import number, render


def progress(services: list[str], steps: list[Step], finished: bool) -> tuple[int, int]:
    """(services reached, services in the deployment); all of them once it finished."""
    reached = {s.service for s in steps if s.service}
    total = max(len(services), 1)
    return (total if finished else min(len(reached), total)), total


@access("user", stack_param=None)
async def deployment_page(request: web.Request) -> web.Response:
    store = request.app[STORE]
    deployment = await store.deployments.get(number(request))
    require(request, "read", deployment.stack)
    steps = await store.deployments.steps(deployment.id)
    finished = deployment.status in FINISHED
    done, total = progress(list(deployment.snapshot.get("images", {})), steps, finished)
    context: dict[str, Any] = {
        "d": deployment, "steps": steps, "finished": finished, "done": done, "total": total,
        "containers": await store.containers.query(stack=deployment.stack),
    }
    return render(request, "deployment.html", context)


def setup(app: web.Application) -> None:
    app.router.add_get("/deployments/{id}", deployment_page, name="ui.deployment")
