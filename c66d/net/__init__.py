"""ContainerNet: IPAM and the overlay between servers."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Nothing to start yet: IPAM and the overlay arrive with the orchestrator."""
