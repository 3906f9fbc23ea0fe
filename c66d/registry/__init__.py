"""Registry: the OCI distribution v2 endpoint at /v2/."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from c66d.keys import STATUS_PROBES
from c66d.web.access import access

API_VERSION_HEADER = {"Docker-Distribution-API-Version": "registry/2.0"}


@access("public")
async def base(request: web.Request) -> web.Response:
    """`GET /v2/`: the endpoint exists and speaks distribution v2."""
    return web.json_response({}, headers=API_VERSION_HEADER)


def setup(app: web.Application) -> None:
    app.router.add_get("/v2/", base, name="registry.base")

    async def probe() -> dict[str, Any]:
        return {"state": "ok"}

    app[STATUS_PROBES]["registry"] = probe
