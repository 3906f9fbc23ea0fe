"""Build pages: the list with filters and a start form; one build with its live log, cancel
and rebuild."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from c66d.auth import allowed, audit, identity_of, require
from c66d.build.keys import BUILD_LOGS, BUILD_QUEUE
from c66d.build.source import git_services
from c66d.errors import C66dError
from c66d.keys import STORE
from c66d.store.builds import STATUSES, Build
from c66d.web.access import access
from c66d.web.uikit import form, number, render, see_other

PAGE = 100


async def buildable(request: web.Request) -> list[tuple[str, str]]:
    """(stack, service) pairs built from git that the caller may build."""
    who, pairs = identity_of(request), list[tuple[str, str]]()
    for stack in await request.app[STORE].stacks.all():
        if allowed(who, "deploy", stack.name):
            pairs.extend((stack.name, svc) for svc in git_services(stack))
    return pairs


async def _list_page(request: web.Request, *, status: int = 200, **extra: Any) -> web.Response:
    q, who = request.query, identity_of(request)
    filters = {k: q.get(k, "") for k in ("stack", "service", "status")}
    if filters["status"] not in ("", *STATUSES):
        filters["status"] = ""
    if filters["stack"]:
        require(request, "read", filters["stack"])
    builds = await request.app[STORE].builds.query(
        stack=filters["stack"] or None, service=filters["service"] or None,
        status=filters["status"] or None, limit=PAGE)
    context = {"builds": [b for b in builds if allowed(who, "read", b.stack)],
               "filters": filters, "statuses": STATUSES, "buildable": await buildable(request),
               "error": "", **extra}
    return render(request, "builds.html", context, status=status)


@access("read", stack_param=None)
async def builds_page(request: web.Request) -> web.Response:
    return await _list_page(request)


async def _enqueue(request: web.Request, stack: str, service: str, ref: str) -> Build:
    caller = require(request, "deploy", stack)
    build = await request.app[BUILD_QUEUE].enqueue(stack, service, ref=ref, trigger="ui",
                                                   actor=caller.name)
    await audit(request, "build.create", stack=stack, target=f"{service}#{build.id}",
                detail={"ref": ref})
    return build


@access("deploy", stack_param=None)
async def start_build(request: web.Request) -> web.StreamResponse:
    data = await form(request)
    stack, _, service = data.get("target", "").partition("/")
    if not stack or not service:
        return await _list_page(request, status=400, error="choose the service to build")
    try:
        build = await _enqueue(request, stack, service, data.get("ref", "").strip())
    except C66dError as exc:
        if exc.status in (401, 403):
            raise
        return await _list_page(request, status=exc.status, error=exc.message)
    raise see_other(f"/builds/{build.id}")


async def _build(request: web.Request, level: str) -> Build:
    build = await request.app[STORE].builds.get(number(request))
    require(request, level, build.stack)
    return build


@access("read", stack_param=None)
async def build_page(request: web.Request) -> web.Response:
    build = await _build(request, "read")
    live = request.app[BUILD_LOGS].live.get(build.id)
    text = (await request.app[BUILD_LOGS].whole(build.id)).decode("utf-8", "replace")
    return render(request, "build.html", {"b": build, "log": text,
                                          "step": (live.step if live else "") or build.step})


@access("deploy", stack_param=None)
async def cancel_build(request: web.Request) -> web.StreamResponse:
    build = await _build(request, "deploy")
    caller = require(request, "deploy", build.stack)
    await request.app[BUILD_QUEUE].cancel(build.id, caller.name)
    await audit(request, "build.cancel", stack=build.stack, target=f"{build.service}#{build.id}")
    raise see_other(f"/builds/{build.id}")


@access("deploy", stack_param=None)
async def rebuild(request: web.Request) -> web.StreamResponse:
    """The same service at the same commit (or ref, when it never resolved one)."""
    old = await _build(request, "deploy")
    fresh = await _enqueue(request, old.stack, old.service, old.commit_sha or old.ref)
    raise see_other(f"/builds/{fresh.id}")


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/builds", builds_page, name="ui.builds")
    r.add_post("/builds", start_build)
    r.add_get("/builds/{id}", build_page, name="ui.build")
    r.add_post("/builds/{id}/cancel", cancel_build)
    r.add_post("/builds/{id}/rebuild", rebuild)
