"""Server pages (state, Docker version, host key, containers, add/remove) and container pages
(address, version, health, log; `?follow=1` streams the log)."""

from __future__ import annotations

import contextlib
from typing import Any

import aiodocker
from aiohttp import web

from c66d.auth import allowed, audit, identity_of, require
from c66d.errors import C66dError, Invalid
from c66d.keys import STORE
from c66d.orchestrator import ENGINES
from c66d.orchestrator.routes_servers import server_view
from c66d.orchestrator.servers import SERVERS, parse_server_spec
from c66d.store import ContainerRecord
from c66d.web.access import access
from c66d.web.uikit import form, render, see_other

LOG_TAIL = 300


async def _readable(request: web.Request, *, stack: str = "", service: str = "",
                    server: str = "") -> list[ContainerRecord]:
    who = identity_of(request)
    found = await request.app[STORE].containers.query(stack=stack, service=service,
                                                      server=server)
    return [c for c in found if allowed(who, "read", c.stack)]


async def servers_response(request: web.Request, *, status: int = 200,
                           **extra: Any) -> web.Response:
    """The servers page; `extra` fills a form again after a refusal (errors, values)."""
    servers, store = request.app[SERVERS], request.app[STORE]
    rows = [server_view(s, servers) for s in await store.servers.all()]
    counts: dict[str, int] = {}
    for c in await _readable(request):
        counts[c.server] = counts.get(c.server, 0) + 1
    admin = allowed(identity_of(request), "admin", None)
    context = {"servers": rows, "counts": counts, "public_key": servers.public_key,
               "errors": [], "values": {}, "provision_errors": [], "provision_values": {},
               "provisions": [n.public() for n in await store.cloud.all()] if admin else [],
               **extra}
    return render(request, "servers.html", context, status=status)


@access("user", stack_param=None)
async def servers_page(request: web.Request) -> web.Response:
    return await servers_response(request)


def spec_from(data: dict[str, str]) -> dict[str, Any]:
    """The form as the API's server body (port a number, roles a list)."""
    body: dict[str, Any] = {k: data[k].strip() for k in ("name", "address", "user")
                            if data.get(k, "").strip()}
    port = data.get("port", "").strip()
    if port:
        body["port"] = int(port) if port.isdigit() else port
    if data.get("docker_socket", "").strip():
        body["docker_socket"] = data["docker_socket"].strip()
    roles = [r.strip() for r in data.get("roles", "").split(",") if r.strip()]
    if roles:
        body["roles"] = roles
    return body


@access("admin", stack_param=None)
async def add_server(request: web.Request) -> web.StreamResponse:
    data = await form(request)
    try:
        server = await request.app[SERVERS].add(parse_server_spec(spec_from(data)))
    except Invalid as exc:
        errors = (exc.detail or {}).get("errors") if isinstance(exc.detail, dict) else None
        return await servers_response(request, status=400, values=data,
                                   errors=errors or [{"key": "", "message": exc.message}])
    except C66dError as exc:
        return await servers_response(request, status=exc.status, values=data,
                                   errors=[{"key": "", "message": exc.message}])
    await audit(request, "server.add", target=server.name)
    raise see_other(f"/servers/{server.name}")


@access("user", stack_param=None)
async def server_page(request: web.Request) -> web.Response:
    server = await request.app[STORE].servers.get(request.match_info["server"])
    return render(request, "server.html", {
        "s": server_view(server, request.app[SERVERS]),
        "containers": await _readable(request, server=server.name)})


@access("admin", stack_param=None)
async def remove_server(request: web.Request) -> web.StreamResponse:
    name = request.match_info["server"]
    await request.app[SERVERS].remove(name)
    await audit(request, "server.remove", target=name)
    raise see_other("/servers")


@access("admin", stack_param=None)
async def accept_key(request: web.Request) -> web.StreamResponse:
    name = request.match_info["server"]
    await request.app[SERVERS].accept_key(name)
    await audit(request, "server.accept_key", target=name)
    raise see_other(f"/servers/{name}")


@access("user", stack_param=None)
async def containers_page(request: web.Request) -> web.Response:
    q = request.query
    where = {k: q.get(k, "") for k in ("stack", "service", "server")}
    found = await _readable(request, stack=where["stack"], service=where["service"],
                            server=where["server"])
    return render(request, "containers.html", {"containers": found, "filters": where})


async def _container(request: web.Request) -> ContainerRecord:
    record = await request.app[STORE].containers.get(request.match_info["id"])
    require(request, "read", record.stack)
    return record


async def tail(request: web.Request, record: ContainerRecord) -> str:
    try:
        docker = request.app[ENGINES].client(record.server)
        lines = await docker.containers.container(record.id).log(
            stdout=True, stderr=True, tail=LOG_TAIL, timestamps=True)
    except (C66dError, aiodocker.DockerError, OSError) as exc:
        return f"(no log: {getattr(exc, 'message', exc)})"
    return "".join(lines)


@access("user", stack_param=None)
async def container_page(request: web.Request) -> web.Response:
    record = await _container(request)
    return render(request, "container.html", {"c": record, "log": await tail(request, record)})


@access("user", stack_param=None)
async def container_log(request: web.Request) -> web.StreamResponse:
    """The log's last lines as text; `?follow=1` keeps streaming what the container writes."""
    record = await _container(request)
    if request.query.get("follow") not in {"1", "true", "yes"} or request.method == "HEAD":
        return web.Response(text=await tail(request, record))
    response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8",
                                           "Cache-Control": "no-cache"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    with contextlib.suppress(C66dError, aiodocker.DockerError, OSError):  # OSError: left
        docker = request.app[ENGINES].client(record.server)
        stream = docker.containers.container(record.id).log(
            stdout=True, stderr=True, follow=True, tail=LOG_TAIL, timestamps=True)
        async for line in stream:
            await response.write(line.encode())
    await response.write_eof()
    return response


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/servers", servers_page, name="ui.servers")
    r.add_post("/servers", add_server)
    r.add_get("/servers/{server}", server_page, name="ui.server")
    r.add_post("/servers/{server}/remove", remove_server)
    r.add_post("/servers/{server}/accept-key", accept_key)
    r.add_get("/containers", containers_page, name="ui.containers")
    r.add_get("/containers/{id}", container_page, name="ui.container")
    r.add_get("/containers/{id}/log", container_log, name="ui.container_log")
