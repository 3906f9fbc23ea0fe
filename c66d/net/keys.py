"""The app key of ContainerNet (its own module: the orchestrator and DNS import it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from c66d.net.overlay import Mesh
    from c66d.net.service import ContainerNet

NET: web.AppKey[ContainerNet] = web.AppKey("net")
MESH: web.AppKey[Mesh] = web.AppKey("net_mesh")
