"""/api/v1/provisions: servers made on a cloud (libcloud), and how far each got."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from c66d.auth.audit import audit
from c66d.keys import EVENTS, STORE
from c66d.orchestrator.provision import parse_provision_spec
from c66d.orchestrator.provisioner import PROVISIONER, Provisioner
from c66d.orchestrator.servers import SERVERS
from c66d.web.access import access
from c66d.web.api import json_response, page_body, page_params, paged, read_json
from c66d.web.openapi import doc


@access("admin", stack_param=None)
@doc(status=202, body={"name": "string", "provider": "object", "size": "string",
                       "image": "string", "location": "string", "port": "integer",
                       "user": "string", "docker_socket": "string", "roles": "array"})
async def provision(request: web.Request) -> web.Response:
    """Create a server on a cloud: the node is made now, added as a server once it runs."""
    spec = parse_provision_spec(await read_json(request))
    record = await request.app[PROVISIONER].provision(spec)
    await audit(request, "server.provision", target=record.server,
                detail={"driver": record.driver, "node": record.node_id})
    return json_response(record.public(), status=202)


@access("admin", stack_param=None)
@doc(paged=True)
async def list_provisions(request: web.Request) -> web.Response:
    """Every provisioned server's node: driver, node id, address, state and why (by name)."""
    limit, cursor = page_params(request, default=100)
    rows = [r for r in await request.app[STORE].cloud.all() if r.server > cursor][:limit + 1]
    page, more = paged(rows, limit, lambda r: r.server)
    return json_response(page_body([r.public() for r in page], more))


async def _provisioner_ctx(app: web.Application) -> AsyncIterator[None]:
    provisioner = Provisioner(app[STORE], app[SERVERS], app[EVENTS])
    app[PROVISIONER] = provisioner
    task = asyncio.create_task(provisioner.run(), name="provisioner")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await provisioner.close()


def setup(app: web.Application) -> None:
    """Call after the servers' cleanup context: the provisioner adds servers through it."""
    app.cleanup_ctx.append(_provisioner_ctx)
    r = app.router
    r.add_get("/api/v1/provisions", list_provisions, name="api.provisions")
    r.add_post("/api/v1/provisions", provision)
