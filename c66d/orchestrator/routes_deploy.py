"""/api/v1 deployments, rollback and containers."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from c66d.auth import require
from c66d.auth.audit import actor_name, audit
from c66d.errors import Invalid, NotFound
from c66d.keys import EVENTS, STORE
from c66d.orchestrator.deployments import Deployer, deployment_view
from c66d.store import Step
from c66d.store.deployments import FINISHED
from c66d.web.access import access
from c66d.web.api import json_response, page_body, page_params, paged, read_json
from c66d.web.openapi import doc

DEPLOYER = web.AppKey("deployer", Deployer)


async def _record(request: web.Request, action: str, stack: str, **detail: object) -> None:
    await audit(request, action, stack=stack, detail=dict(detail))


@access("read")
@doc(paged=True)
async def list_deployments(request: web.Request) -> web.Response:
    """`?limit=&cursor=`: the stack's deployments, newest first (the cursor is a number)."""
    limit, cursor = page_params(request)
    if cursor and not cursor.isdigit():
        raise Invalid("cursor must be a deployment number", detail={"param": "cursor"})
    rows = await request.app[STORE].deployments.for_stack(
        request.match_info["stack"], limit=limit + 1, before=int(cursor) if cursor else None)
    page, more = paged(rows, limit, lambda d: str(d.number))
    return json_response(page_body([deployment_view(d) for d in page], more))


@access("deploy")
@doc(status=202)
async def start_deployment(request: web.Request) -> web.Response:
    stack = request.match_info["stack"]
    await request.app[STORE].stacks.get(stack)
    deployment = await request.app[DEPLOYER].deploy(stack, actor=actor_name(request))
    await _record(request, "deployment.start", stack, number=deployment.number)
    return json_response(deployment_view(deployment), status=202)


@access("deploy")
@doc(status=202, body={"deployment": "integer"})
async def rollback(request: web.Request) -> web.Response:
    stack = request.match_info["stack"]
    body = await read_json(request)
    deployment = await request.app[DEPLOYER].rollback(stack, body.get("deployment"),
                                                      actor=actor_name(request))
    await _record(request, "deployment.rollback", stack, number=deployment.number,
                  to=deployment.rollback_of)
    return json_response(deployment_view(deployment), status=202)


def _step_view(step: Step) -> dict[str, object]:
    return {"id": step.id, "at": step.at, "service": step.service, "server": step.server,
            "action": step.action, "status": step.status, "message": step.message}


def _deployment_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isdigit():
        raise NotFound(f"no deployment {raw!r}: deployment ids are numbers")
    return int(raw)


@access("user")
async def get_deployment(request: web.Request) -> web.Response:
    store = request.app[STORE]
    deployment = await store.deployments.get(_deployment_id(request))
    require(request, "read", deployment.stack)
    steps = await store.deployments.steps(deployment.id)
    return json_response({**deployment_view(deployment),
                          "steps": [_step_view(s) for s in steps]})


def _step_line(step: Step) -> str:
    where = " ".join(x for x in (step.service, step.server) if x)
    return f"{step.action:<14} {step.status:<6} {where} {step.message}".rstrip() + "\n"


@access("user")
@doc(text=True, query={"follow": "1: stream until the deployment ends"})
async def deployment_log(request: web.Request) -> web.StreamResponse:
    """The step log as text; `?follow=1` streams it until the deployment finishes."""
    store = request.app[STORE]
    deployment = await store.deployments.get(_deployment_id(request))
    require(request, "read", deployment.stack)
    follow = request.query.get("follow") in {"1", "true", "yes"}
    response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
    await response.prepare(request)
    last = 0
    with request.app[EVENTS].subscribe(["deployment."]) as events:
        while True:
            for step in await store.deployments.steps(deployment.id, after=last):
                await response.write(_step_line(step).encode())
                last = step.id
            deployment = await store.deployments.get(deployment.id)
            if not follow or deployment.status in FINISHED:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(events.get(), timeout=5)
    await response.write_eof()
    return response


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v1/stacks/{stack}/deployments", list_deployments)
    r.add_post("/api/v1/stacks/{stack}/deployments", start_deployment)
    r.add_post("/api/v1/stacks/{stack}/rollback", rollback)
    r.add_get("/api/v1/deployments/{id}", get_deployment)
    r.add_get("/api/v1/deployments/{id}/log", deployment_log)
