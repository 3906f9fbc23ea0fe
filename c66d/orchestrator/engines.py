"""Docker engines by server: one aiodocker client per reachable engine."""

from __future__ import annotations

import logging

import aiodocker

from c66d.errors import Unavailable

log = logging.getLogger("c66d.orchestrator")


class Engines:
    """Holds the Docker clients; the local engine is the server `local`."""

    def __init__(self, local_url: str) -> None:
        self.local_url = local_url
        self._clients: dict[str, aiodocker.Docker] = {}

    def client(self, server: str = "local") -> aiodocker.Docker:
        if server not in self._clients:
            if server != "local":
                raise Unavailable(f"server {server!r} is not connected")
            self._clients[server] = aiodocker.Docker(url=self.local_url)
        return self._clients[server]

    async def version(self, server: str = "local") -> str:
        try:
            info = await self.client(server).version()
        except (aiodocker.DockerError, OSError) as exc:
            raise Unavailable(f"Docker engine of server {server!r} does not answer: {exc}") from exc
        return str(info.get("Version", ""))

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()
