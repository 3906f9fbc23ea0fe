"""/api/v1/stacks: create, read, update, delete, variables, scale."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from c66d.auth import identity_of, readable_stacks
from c66d.auth.audit import actor_name, audit
from c66d.keys import EVENTS, LISTENERS, STORE
from c66d.orchestrator import stacks
from c66d.orchestrator.routes_deploy import DEPLOYER
from c66d.store import Deployment
from c66d.web.access import access
from c66d.web.api import json_response, page_body, page_params, paged, read_json
from c66d.web.openapi import doc


async def _record(request: web.Request, action: str, stack: str, **detail: object) -> None:
    await audit(request, action, stack=stack, detail=dict(detail))


@access("user")
@doc(paged=True)
async def list_stacks(request: web.Request) -> web.Response:
    """`?limit=&cursor=`: the stacks the caller may read, by name."""
    limit, cursor = page_params(request)
    store, base = request.app[STORE], request.app[LISTENERS].base_url()
    rows = await store.stacks.page(after=cursor, limit=limit + 1,
                                   stacks=readable_stacks(identity_of(request)))
    page, more = paged(rows, limit, lambda s: s.name)
    counts = await store.stacks.all_counts([s.name for s in page])
    items = [await stacks.stack_view(store, s, base, counts[s.name]) for s in page]
    return json_response(page_body(items, more))


@access("admin")
@doc(status=201, body={"name": "string", "service_yml": "string", "env": "object"})
async def create_stack(request: web.Request) -> web.Response:
    body = await read_json(request)
    variables = stacks.parse_variables(body["env"]) if "env" in body else None
    store = request.app[STORE]
    stack = await stacks.create_stack(store, body.get("name"), body.get("service_yml"),
                                      variables)
    await _record(request, "stack.create", stack.name)
    request.app[EVENTS].publish("stack.created", stack=stack.name)
    view = await stacks.stack_view(store, stack, request.app[LISTENERS].base_url())
    return json_response(view, status=201)


@access("read")
async def get_stack(request: web.Request) -> web.Response:
    store = request.app[STORE]
    stack = await store.stacks.get(request.match_info["stack"])
    return json_response(await stacks.stack_view(store, stack, request.app[LISTENERS].base_url()))


@access("stack_admin")
@doc(body={"service_yml": "string", "auto_deploy": "boolean"})
async def update_stack(request: web.Request) -> web.Response:
    body = await read_json(request)
    store, name = request.app[STORE], request.match_info["stack"]
    stack = await stacks.update_stack(store, name, service_yml=body.get("service_yml"),
                                      auto_deploy=body.get("auto_deploy"))
    await _record(request, "stack.update", name, keys=sorted(body))
    request.app[EVENTS].publish("stack.updated", stack=name)
    return json_response(await stacks.stack_view(store, stack, request.app[LISTENERS].base_url()))


@access("stack_admin")
@doc(status=204)
async def delete_stack(request: web.Request) -> web.Response:
    await remove_stack(request, request.match_info["stack"])
    return web.Response(status=204)


@access("stack_admin")
async def get_hook(request: web.Request) -> web.Response:
    stack = await request.app[STORE].stacks.get(request.match_info["stack"])
    return json_response({
        "url": f"{request.app[LISTENERS].base_url()}/api/v1/hooks/{stack.name}",
        "secret": stack.hook_secret,
    })


@access("read")
async def get_env(request: web.Request) -> web.Response:
    variables = await request.app[STORE].stacks.env_vars(request.match_info["stack"])
    return json_response({"variables": stacks.masked(variables)})


@access("stack_admin")
@doc(body={"variables": "array"})
async def put_env(request: web.Request) -> web.Response:
    body = await read_json(request)
    name = request.match_info["stack"]
    variables = stacks.parse_variables(body.get("variables", {}))
    store = request.app[STORE]
    await stacks.replace_variables(store, name, variables)
    await _record(request, "stack.env", name, names=sorted(v.name for v in variables))
    return json_response({"variables": stacks.masked(await store.stacks.env_vars(name))})


@access("deploy")
@doc(body={"count": "integer"})
async def scale_service(request: web.Request) -> web.Response:
    body = await read_json(request)
    name, service = request.match_info["stack"], request.match_info["service"]
    count, deployment = await scale_and_roll(request, name, service, body.get("count"))
    return json_response({"stack": name, "service": service, "count": count,
                          "deployment": deployment.id if deployment else None})


async def scale_and_roll(request: web.Request, name: str, service: str, count: Any
                         ) -> tuple[int, Deployment | None]:
    """Set a service's container count, record who did it, and roll it out (API and UI)."""
    count = await stacks.scale(request.app[STORE], name, service, count)
    await _record(request, "service.scale", name, service=service, count=count)
    request.app[EVENTS].publish("service.scaled", stack=name, service=service, count=count)
    return count, await request.app[DEPLOYER].rescale(name, actor=actor_name(request))


async def remove_stack(request: web.Request, name: str) -> None:
    """Delete a stack (its containers go with it: the reconciler follows), recorded (API, UI)."""
    await request.app[STORE].stacks.delete(name)
    await _record(request, "stack.delete", name)
    request.app[EVENTS].publish("stack.deleted", stack=name)


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v1/stacks", list_stacks, name="api.stacks")
    r.add_post("/api/v1/stacks", create_stack)
    r.add_get("/api/v1/stacks/{stack}", get_stack, name="api.stack")
    r.add_put("/api/v1/stacks/{stack}", update_stack)
    r.add_delete("/api/v1/stacks/{stack}", delete_stack)
    r.add_get("/api/v1/stacks/{stack}/hook", get_hook)
    r.add_get("/api/v1/stacks/{stack}/env", get_env)
    r.add_put("/api/v1/stacks/{stack}/env", put_env)
    r.add_post("/api/v1/stacks/{stack}/services/{service}/scale", scale_service)
