"""Stack pages: the list with the create form, one stack with its services, containers,
variables, service.yml editor, deployments (deploy, rollback) and hook."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from aiohttp import web

from c66d.auth import allowed, audit, identity_of
from c66d.auth.audit import actor_name
from c66d.errors import C66dError, Invalid
from c66d.keys import EVENTS, LISTENERS, STORE
from c66d.orchestrator import stacks
from c66d.orchestrator.routes_deploy import DEPLOYER
from c66d.orchestrator.routes_stacks import remove_stack, scale_and_roll
from c66d.orchestrator.servicefile import ServiceFileInvalid
from c66d.store import EnvVar
from c66d.web.access import access
from c66d.web.uikit import form, render, see_other

EXAMPLE = """services:
  web:
    image: 127.0.0.1:8066/shop/web:latest
    ports: ["8000"]
"""


def problems_of(exc: C66dError) -> list[dict[str, Any]]:
    """Inline errors: each with its key path and line when the service file says so."""
    if isinstance(exc, ServiceFileInvalid):
        return [{"path": p.path, "line": p.line, "message": p.message} for p in exc.problems]
    return [{"path": "", "line": None, "message": exc.message}]


async def _list_page(request: web.Request, *, status: int = 200, **extra: Any) -> web.Response:
    store, who = request.app[STORE], identity_of(request)
    rows = []
    for stack in await store.stacks.all():
        if not allowed(who, "read", stack.name):
            continue
        recent = await store.deployments.for_stack(stack.name, limit=1)
        rows.append({"stack": stack, "last": recent[0] if recent else None,
                     "services": list(stacks.spec_of(stack).services),
                     "containers": await store.containers.query(stack=stack.name)})
    context = {"rows": rows, "name": "", "service_yml": EXAMPLE, "problems": [], **extra}
    return render(request, "stacks.html", context, status=status)


@access("user", stack_param=None)
async def stacks_page(request: web.Request) -> web.Response:
    return await _list_page(request)


@access("admin", stack_param=None)
async def create_stack(request: web.Request) -> web.StreamResponse:
    data = await form(request)
    name, text = data.get("name", "").strip(), data.get("service_yml", "").replace("\r\n", "\n")
    try:
        stack = await stacks.create_stack(request.app[STORE], name, text)
    except C66dError as exc:
        return await _list_page(request, status=exc.status, name=name, service_yml=text,
                                problems=problems_of(exc))
    await audit(request, "stack.create", stack=stack.name)
    request.app[EVENTS].publish("stack.created", stack=stack.name)
    raise see_other(f"/stacks/{stack.name}")


async def stack_context(request: web.Request, name: str) -> dict[str, Any]:
    store = request.app[STORE]
    stack = await store.stacks.get(name)
    view = await stacks.stack_view(store, stack, request.app[LISTENERS].base_url())
    by_service: dict[str, list[Any]] = defaultdict(list)
    for container in await store.containers.query(stack=name):
        by_service[container.service].append(container)
    deployments = await store.deployments.for_stack(name, limit=30)
    return {
        "stack": stack, "view": view, "containers": by_service,
        "variables": stacks.masked(await store.stacks.env_vars(name)),
        "deployments": deployments,
        "current": next((d.number for d in deployments if d.status == "succeeded"), None),
        "builds": await store.builds.query(stack=name, limit=10),
        "service_yml": stack.service_yml, "problems": [], "message": "",
    }


async def _stack_page(request: web.Request, *, status: int = 200, **extra: Any) -> web.Response:
    context = await stack_context(request, request.match_info["stack"])
    context.update(extra)
    return render(request, "stack.html", context, status=status)


@access("read")
async def stack_page(request: web.Request) -> web.Response:
    return await _stack_page(request)


@access("stack_admin")
async def update_service_yml(request: web.Request) -> web.StreamResponse:
    name = request.match_info["stack"]
    text = (await form(request)).get("service_yml", "").replace("\r\n", "\n")
    try:
        await stacks.update_stack(request.app[STORE], name, service_yml=text)
    except C66dError as exc:
        return await _stack_page(request, status=exc.status, service_yml=text,
                                 problems=problems_of(exc))
    await audit(request, "stack.update", stack=name, detail={"keys": ["service_yml"]})
    request.app[EVENTS].publish("stack.updated", stack=name)
    raise see_other(f"/stacks/{name}#service-yml")


def variables_from(data: dict[str, str]) -> list[EnvVar]:
    """Rows `name-N`, `value-N`, `secret-N` (checkbox); an empty name drops the row."""
    rows = []
    for key in sorted(k for k in data if k.startswith("name-")):
        index = key.removeprefix("name-")
        name = data[key].strip()
        if name:
            rows.append({"name": name, "value": data.get(f"value-{index}", ""),
                         "secret": f"secret-{index}" in data})
    return stacks.parse_variables(rows)


@access("stack_admin")
async def update_env(request: web.Request) -> web.StreamResponse:
    name = request.match_info["stack"]
    try:
        variables = variables_from(await form(request))
        await stacks.replace_variables(request.app[STORE], name, variables)
    except Invalid as exc:
        return await _stack_page(request, status=400, env_error=exc.message)
    await audit(request, "stack.env", stack=name,
                detail={"names": sorted(v.name for v in variables)})
    raise see_other(f"/stacks/{name}#variables")


@access("deploy")
async def scale_service(request: web.Request) -> web.StreamResponse:
    name, service = request.match_info["stack"], request.match_info["service"]
    raw = (await form(request)).get("count", "")
    try:
        _, deployment = await scale_and_roll(request, name, service,
                                             int(raw) if raw.strip().isdigit() else raw)
    except Invalid as exc:
        return await _stack_page(request, status=400, scale_error={service: exc.message})
    raise see_other(f"/deployments/{deployment.id}" if deployment else f"/stacks/{name}")


@access("deploy")
async def deploy(request: web.Request) -> web.StreamResponse:
    name = request.match_info["stack"]
    try:
        deployment = await request.app[DEPLOYER].deploy(name, actor=actor_name(request))
    except C66dError as exc:
        return await _stack_page(request, status=exc.status, message=exc.message)
    await audit(request, "deployment.start", stack=name, detail={"number": deployment.number})
    raise see_other(f"/deployments/{deployment.id}")


@access("deploy")
async def rollback(request: web.Request) -> web.StreamResponse:
    name = request.match_info["stack"]
    raw = (await form(request)).get("deployment", "")
    number: Any = int(raw) if raw.isdigit() else None
    try:
        deployment = await request.app[DEPLOYER].rollback(name, number, actor=actor_name(request))
    except C66dError as exc:
        return await _stack_page(request, status=exc.status, message=exc.message)
    await audit(request, "deployment.rollback", stack=name,
                detail={"number": deployment.number, "to": deployment.rollback_of})
    raise see_other(f"/deployments/{deployment.id}")


@access("stack_admin")
async def delete_stack(request: web.Request) -> web.StreamResponse:
    await remove_stack(request, request.match_info["stack"])
    raise see_other("/stacks")


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/stacks", stacks_page, name="ui.stacks")
    r.add_post("/stacks", create_stack)
    r.add_get("/stacks/{stack}", stack_page, name="ui.stack")
    r.add_post("/stacks/{stack}/service-yml", update_service_yml)
    r.add_post("/stacks/{stack}/env", update_env)
    r.add_post("/stacks/{stack}/services/{service}/scale", scale_service)
    r.add_post("/stacks/{stack}/deploy", deploy)
    r.add_post("/stacks/{stack}/rollback", rollback)
    r.add_post("/stacks/{stack}/delete", delete_stack)
