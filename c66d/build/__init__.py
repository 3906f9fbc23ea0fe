"""BuildGrid: the build queue."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from c66d.keys import STATUS_PROBES


def setup(app: web.Application) -> None:
    async def probe() -> dict[str, Any]:
        return {"state": "ok", "running": 0, "queued": 0}

    app[STATUS_PROBES]["build"] = probe
