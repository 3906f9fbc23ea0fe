"""`GET /api/v1/net`: subnets and addresses; `GET /api/v1/net/mesh`: the overlay's peers."""

from __future__ import annotations

from aiohttp import web

from c66d.net.keys import MESH, NET
from c66d.web.access import access
from c66d.web.api import json_response


@access("user", stack_param=None)
async def get_net(request: web.Request) -> web.Response:
    """The cluster range, each server's subnet and the addresses handed out in it."""
    net = request.app[NET]
    leases = await net.store.net.leases()
    subnets = [{"server": s.server, "subnet": s.subnet, "public_key": s.public_key,
                "addresses": [{"address": x.address, "container": x.holder, "stack": x.stack}
                              for x in leases if x.server == s.server]}
               for s in await net.store.net.subnets()]
    return json_response({
        "cluster_range": net.settings.cluster, "network": net.settings.name,
        "overlay": net.settings.overlay, "control_address": net.control_address,
        "dns": net.dns_address or None, "subnets": subnets,
    })


@access("user", stack_param=None)
async def get_mesh(request: web.Request) -> web.Response:
    """Every node of the overlay with its peers and their last handshake, asked now."""
    mesh = request.app.get(MESH)
    if mesh is None:
        return json_response({"overlay": "none", "nodes": []})
    return json_response(await mesh.status())


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/net", get_net, name="api.net")
    app.router.add_get("/api/v1/net/mesh", get_mesh, name="api.net.mesh")
