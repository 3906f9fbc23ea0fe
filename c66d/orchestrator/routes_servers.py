"""/api/v1/servers: c66d's public key, adding, listing, removing servers, accepting host keys."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from c66d.auth.audit import audit
from c66d.keys import STORE
from c66d.orchestrator.servers import SERVERS, Servers, parse_server_spec
from c66d.orchestrator.ssh import fingerprint
from c66d.store import Server
from c66d.web.access import access
from c66d.web.api import json_response, page_body, page_params, paged, read_json
from c66d.web.openapi import doc


def server_view(server: Server, servers: Servers) -> dict[str, Any]:
    return {
        "name": server.name, "kind": server.kind, "address": server.address,
        "port": server.port, "user": server.username, "docker_socket": server.docker_socket,
        "roles": server.roles, "state": server.state, "reason": server.state_reason,
        "docker_version": server.docker_version, "last_seen": server.last_seen,
        "host_key": fingerprint(server.host_key),
        "pending_host_key": fingerprint(server.pending_host_key),
        "created_at": server.created_at,
        **servers.live(server.name),
    }


async def _record(request: web.Request, action: str, server: str) -> None:
    await audit(request, action, target=server)


@access("user", stack_param=None)
async def get_key(request: web.Request) -> web.Response:
    servers = request.app[SERVERS]
    return json_response({"public_key": servers.public_key,
                          "fingerprint": servers.public_key_fingerprint})


@access("user", stack_param=None)
@doc(paged=True)
async def list_servers(request: web.Request) -> web.Response:
    """`?limit=&cursor=`: every server by name (the cursor is a name)."""
    limit, cursor = page_params(request, default=100)
    servers = request.app[SERVERS]
    rows = sorted((s for s in await request.app[STORE].servers.all() if s.name > cursor),
                  key=lambda s: s.name)[:limit + 1]
    page, more = paged(rows, limit, lambda s: s.name)
    return json_response(page_body([server_view(s, servers) for s in page], more))


@access("user", stack_param=None)
async def get_server(request: web.Request) -> web.Response:
    server = await request.app[STORE].servers.get(request.match_info["server"])
    return json_response(server_view(server, request.app[SERVERS]))


@access("admin", stack_param=None)
@doc(status=201, body={
    "name": "string",
    "address": "string",
    "port": "integer",
    "user": "string",
    "docker_socket": "string",
    "roles": "array",
})
async def add_server(request: web.Request) -> web.Response:
    spec = parse_server_spec(await read_json(request))
    servers = request.app[SERVERS]
    server = await servers.add(spec)
    await _record(request, "server.add", server.name)
    return json_response(server_view(server, servers), status=201)


@access("admin", stack_param=None)
@doc(status=204)
async def delete_server(request: web.Request) -> web.Response:
    name = request.match_info["server"]
    await request.app[SERVERS].remove(name)
    await _record(request, "server.remove", name)
    return web.Response(status=204)


@access("admin", stack_param=None)
async def accept_key(request: web.Request) -> web.Response:
    name = request.match_info["server"]
    servers = request.app[SERVERS]
    server = await servers.accept_key(name)
    await _record(request, "server.accept_key", name)
    return json_response(server_view(server, servers))


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v1/servers/key", get_key, name="api.servers.key")
    r.add_get("/api/v1/servers", list_servers, name="api.servers")
    r.add_post("/api/v1/servers", add_server)
    r.add_get("/api/v1/servers/{server}", get_server, name="api.server")
    r.add_delete("/api/v1/servers/{server}", delete_server)
    r.add_post("/api/v1/servers/{server}/accept-key", accept_key)
