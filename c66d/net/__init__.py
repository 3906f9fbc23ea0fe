"""ContainerNet: an address for every container, a Docker network per server, an overlay.

See c66d/net/service.py for the parts and how they are wired; this module stays light so the
store can import the pure allocator (c66d.net.ipam) without pulling the subsystem in.
"""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    from c66d.net.service import setup as setup_service

    setup_service(app)
