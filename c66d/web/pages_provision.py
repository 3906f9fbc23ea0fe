"""The servers page's "Provision on a cloud" form: the UI side of POST /api/v1/provisions.

The account's key and secret go to the provisioner (sealed at rest) and are never put back into
a page: a refused form comes back with every other field filled in and those two empty.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from c66d.auth import audit
from c66d.errors import C66dError
from c66d.logs import SECRETS
from c66d.orchestrator.provision import parse_provision_spec
from c66d.orchestrator.provisioner import PROVISIONER
from c66d.web.access import access
from c66d.web.pages_servers import servers_response, spec_from
from c66d.web.uikit import form, see_other

CREDENTIALS = ("key", "secret")


def provision_body(data: dict[str, str]) -> dict[str, Any]:
    """The form as the API's provision body (empty fields left out)."""
    provider = {k: data[k].strip() for k in ("driver", *CREDENTIALS, "region")
                if data.get(k, "").strip()}
    body: dict[str, Any] = {"provider": provider, **spec_from(
        {k: v for k, v in data.items() if k != "address"})}
    body.update({k: data[k].strip() for k in ("size", "image", "location")
                 if data.get(k, "").strip()})
    return body


@access("admin", stack_param=None)
async def provision_server(request: web.Request) -> web.StreamResponse:
    data = await form(request)
    for name in CREDENTIALS:
        if data.get(name):
            SECRETS.add(data[name].strip())
    kept = {k: v for k, v in data.items() if k not in CREDENTIALS}  # never echoed back
    try:
        spec = parse_provision_spec(provision_body(data))
        record = await request.app[PROVISIONER].provision(spec)
    except C66dError as exc:  # the message names every problem (and what the provider offers)
        return await servers_response(request, status=exc.status, provision_values=kept,
                                      provision_errors=[{"key": "", "message": exc.message}])
    await audit(request, "server.provision", target=record.server,
                detail={"driver": record.driver, "node": record.node_id})
    raise see_other("/servers#provisions-h")


def setup(app: web.Application) -> None:
    app.router.add_post("/servers/provisions", provision_server)
