"""Docker engines by server: one aiodocker client per reachable engine.

The local engine is the server `local`; a remote server's engine is reached through a Unix
socket that its SSH connection forwards (see servers.py), so both are the same aiodocker client.
"""

from __future__ import annotations

import logging

import aiodocker

from c66d.errors import Unavailable

log = logging.getLogger("c66d.orchestrator")


class Engines:
    """Holds the Docker clients; remote ones come and go with their SSH connections."""

    def __init__(self, local_url: str) -> None:
        self.local_url = local_url
        self._clients: dict[str, aiodocker.Docker] = {}
        self._urls: dict[str, str] = {"local": local_url}
        self._why_not: dict[str, str] = {}

    def client(self, server: str = "local") -> aiodocker.Docker:
        """The Docker client of `server`; raises Unavailable when it is not connected."""
        if server not in self._clients:
            if server != "local":
                why = self._why_not.get(server, "not connected")
                raise Unavailable(f"server {server!r} is not connected: {why}",
                                  detail={"server": server})
            self._clients[server] = aiodocker.Docker(url=self.local_url)
        return self._clients[server]

    def url(self, server: str = "local") -> str:
        """Where `server`'s engine answers, for a client of one's own (e.g. one build)."""
        if server not in self._urls:
            why = self._why_not.get(server, "not connected")
            raise Unavailable(f"server {server!r} is not connected: {why}",
                              detail={"server": server})
        return self._urls[server]

    def connected(self, server: str) -> bool:
        return server in self._clients

    async def attach(self, server: str, url: str) -> aiodocker.Docker:
        """Use the engine at `url` (e.g. unix:///.../web1.sock) for `server`."""
        await self.detach(server)
        client = aiodocker.Docker(url=url)
        self._clients[server] = client
        self._urls[server] = url
        self._why_not.pop(server, None)
        return client

    async def detach(self, server: str, why: str = "not connected") -> None:
        self._why_not[server] = why
        if server != "local":
            self._urls.pop(server, None)
        client = self._clients.pop(server, None)
        if client is not None:
            await client.close()

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
