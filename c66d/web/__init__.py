"""The web door: templates, static files, the status API and the UI pages."""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from c66d import __version__
from c66d.web import openapi, pages, status
from c66d.web.access import access

STATIC_DIR = Path(__file__).resolve().parents[2] / "static"


@access("public")
async def favicon(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC_DIR / "favicon.svg")


def setup_ui(app: web.Application) -> None:
    """The UI pages and the event stream. Imported here, not at the top: they use the
    subsystems (auth, orchestrator, build, registry), which themselves import `c66d.web`."""
    from c66d.web import (
        pages_builds,
        pages_deploy,
        pages_dns,
        pages_people,
        pages_provision,
        pages_registry,
        pages_servers,
        pages_stacks,
        sse,
        uikit,
    )

    uikit.install(app)
    sse.setup(app)
    for module in (pages_stacks, pages_deploy, pages_builds, pages_registry, pages_servers,
                   pages_dns, pages_people, pages_provision):
        module.setup(app)


def setup(app: web.Application) -> None:
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("c66d.web", "templates"),
        autoescape=jinja2.select_autoescape(default=True),
    )
    env.globals["version"] = __version__
    status.setup(app)
    openapi.setup(app)
    pages.setup(app)
    setup_ui(app)
    app.router.add_get("/favicon.ico", favicon, name="ui.favicon")
    app.router.add_static("/static/", STATIC_DIR, name="static")  # public, like every asset
