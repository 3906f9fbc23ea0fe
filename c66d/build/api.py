"""BuildGrid's HTTP routes: builds, their logs, cancel, push webhooks, deploy keys."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from c66d.auth.audit import audit, identity_of, require
from c66d.auth.credentials import client_address
from c66d.auth.identity import readable_stacks
from c66d.build.deploykeys import deploy_key
from c66d.build.hooks import HookRefused, names_repository, parse_push, provider_of, verify
from c66d.build.keys import BUILD_LOGS, BUILD_QUEUE
from c66d.build.source import git_services
from c66d.errors import Invalid, NotFound
from c66d.keys import STORE
from c66d.logs import get_logger
from c66d.store.builds import STATUSES, Build
from c66d.web.access import access
from c66d.web.api import json_response, page_params, read_json
from c66d.web.openapi import doc

log = get_logger("c66d.build.hooks")


def _view(request: web.Request, build: Build) -> dict[str, Any]:
    data = build.public()
    live = request.app[BUILD_LOGS].live.get(build.id)
    if live is not None and live.step:
        data["step"] = live.step
    data["log_url"] = f"/api/v1/builds/{build.id}/log"
    return data


def _text(data: Any, field: str, *, required: bool = False) -> str:
    value = data.get(field, "")
    if value is None:
        value = ""
    if not isinstance(value, str) or (required and not value):
        raise Invalid(f"{field} must be {'a non-empty' if required else 'a'} string",
                      detail={"field": field})
    return value


async def _build_for(request: web.Request, level: str) -> Build:
    raw = request.match_info["id"]
    if not raw.isdigit():
        raise NotFound(f"no build {raw!r}")
    build = await request.app[STORE].builds.get(int(raw))
    require(request, level, build.stack)  # the stack is in the record, not the path
    return build


@access("deploy", stack_param=None)
@doc(status=201, body={"stack": "string", "service": "string", "ref": "string"})
async def create_build(request: web.Request) -> web.Response:
    """`POST /api/v1/builds {stack, service, ref}`: queue a build."""
    body = await read_json(request)
    stack, service = _text(body, "stack", required=True), _text(body, "service", required=True)
    ref = _text(body, "ref").strip()
    caller = require(request, "deploy", stack)  # the stack is in the body: checked here
    build = await request.app[BUILD_QUEUE].enqueue(stack, service, ref=ref, trigger="api",
                                                   actor=caller.name)
    await audit(request, "build.create", stack=stack, target=f"{service}#{build.id}",
                detail={"ref": ref})
    return json_response(_view(request, build), status=201)


@access("read", stack_param=None)
@doc(paged=True, query={
    "stack": "only this stack",
    "service": "only this service",
    "status": "queued, running, succeeded, failed or cancelled",
})
async def list_builds(request: web.Request) -> web.Response:
    """`GET /api/v1/builds?stack=&service=&status=&limit=&cursor=`, newest first."""
    limit, cursor = page_params(request)
    stack, status = request.query.get("stack") or None, request.query.get("status") or None
    if status is not None and status not in STATUSES:
        raise Invalid(f"status must be one of {', '.join(STATUSES)}", detail={"param": "status"})
    if cursor and not cursor.isdigit():
        raise Invalid("cursor must be a build id", detail={"param": "cursor"})
    if stack:
        require(request, "read", stack)
    builds = await request.app[STORE].builds.query(
        stack=stack, service=request.query.get("service") or None, status=status,
        before=int(cursor) if cursor else None, limit=limit,
        stacks=readable_stacks(identity_of(request)))
    next_cursor = str(builds[-1].id) if len(builds) == limit else None
    return json_response({"items": [_view(request, b) for b in builds], "next": next_cursor})


@access("read", stack_param=None)
async def get_build(request: web.Request) -> web.Response:
    return json_response(_view(request, await _build_for(request, "read")))


@access("read", stack_param=None)
@doc(text=True, query={"follow": "1: stream until the build ends"})
async def get_build_log(request: web.Request) -> web.StreamResponse:
    """The whole log; with `?follow=1` streamed (chunked) until the build ends."""
    build = await _build_for(request, "read")
    logs = request.app[BUILD_LOGS]
    if request.query.get("follow") not in {"1", "true", "yes"}:
        return web.Response(body=await logs.whole(build.id), content_type="text/plain",
                            charset="utf-8")
    response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8",
                                           "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    async for chunk in logs.stream(build.id):
        await response.write(chunk)
    await response.write_eof()
    return response


@access("deploy", stack_param=None)
async def cancel_build(request: web.Request) -> web.Response:
    build = await _build_for(request, "deploy")
    caller = require(request, "deploy", build.stack)
    build = await request.app[BUILD_QUEUE].cancel(build.id, caller.name)
    await audit(request, "build.cancel", stack=build.stack, target=f"{build.service}#{build.id}")
    return json_response(_view(request, build))


@access("public")
@doc(status=202)
async def hook(request: web.Request) -> web.Response:
    """`POST /api/v1/hooks/{stack}`: a git push; authenticated only by its signature."""
    name = request.match_info["stack"]
    body = await request.read()
    store = request.app[STORE]
    stack = await store.stacks.find(name)
    try:
        provider = provider_of(request.headers)
        verify(provider, request.headers, body, stack.hook_secret if stack else "")
    except HookRefused as exc:
        log.warning("refused hook for stack %s from %s: %s", name, client_address(request),
                    exc.message)
        await store.audit.record("hook", "hook.refused", stack=name,
                                 address=client_address(request), detail={"why": exc.message})
        raise
    assert stack is not None  # an unknown stack has no secret, so nothing verifies
    push = parse_push(provider, request.headers, body)
    if push.event != "push" or not push.branch or push.sha == "0" * 40:
        return json_response({"builds": [], "ignored": f"{provider} {push.event} event"})
    matched = [svc for svc in git_services(stack).values()
               if svc.git_branch == push.branch and names_repository(push, svc.git_url)]
    queue = request.app[BUILD_QUEUE]
    builds = [await queue.enqueue(name, svc.name, ref=push.sha, branch=push.branch,
                                  trigger=f"hook:{provider}", actor=push.pusher or provider)
              for svc in matched]
    return json_response({"builds": [_view(request, b) for b in builds]},
                         status=202 if builds else 200)


@access("read")
async def get_deploy_key(request: web.Request) -> web.Response:
    """The stack's git deploy key (public part): add it to the repository host, read-only."""
    stack = await request.app[STORE].stacks.get(request.match_info["stack"])
    key = await deploy_key(request.app[STORE], stack.name)
    return json_response({"stack": stack.name, "public_key": key.public_key,
                          "type": "ssh-ed25519", "created_at": key.created_at})


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/v1/builds", create_build)
    r.add_get("/api/v1/builds", list_builds, name="api.builds")
    r.add_get("/api/v1/builds/{id}", get_build, name="api.build")
    r.add_get("/api/v1/builds/{id}/log", get_build_log, name="api.build_log")
    r.add_post("/api/v1/builds/{id}/cancel", cancel_build)
    r.add_post("/api/v1/hooks/{stack}", hook, name="api.hook")
    r.add_get("/api/v1/stacks/{stack}/deploy-key", get_deploy_key)
