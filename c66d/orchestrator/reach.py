"""How the orchestrator reaches a server: its Docker engine, TCP to its containers, its registry.

One interface for the local engine and for servers over SSH.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import aiodocker

from c66d.orchestrator.engines import Engines

if TYPE_CHECKING:
    from c66d.net.attach import Attachment
    from c66d.net.service import ContainerNet

RemoteDial = Callable[[str, str, int],
                      Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


class Reach:
    def __init__(self, engines: Engines, registry_port: int | Callable[[], int]) -> None:
        self.engines = engines
        self._registry_port = registry_port  # a callable when known only once serving

    @property
    def registry_port(self) -> int:
        port = self._registry_port
        return port() if callable(port) else port
        self.remote_dial: RemoteDial | None = None  # set by the SSH connection manager
        self.net: ContainerNet | None = None  # ContainerNet addresses; None: Docker's bridge

    def docker(self, server: str) -> aiodocker.Docker:
        return self.engines.client(server)

    async def attach(self, server: str, container: str, stack: str) -> Attachment | None:
        """The container's ContainerNet address and resolver (None: no ContainerNet)."""
        if self.net is None:
            return None
        return await self.net.attach(server, container, stack)

    async def release(self, server: str, container: str) -> None:
        if self.net is not None:
            await self.net.release(server, container)

    async def dial(self, server: str, host: str, port: int
                   ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP stream to host:port as seen from the server (an SSH tunnel when remote)."""
        if server == "local" or self.remote_dial is None:
            return await asyncio.open_connection(host, port)
        return await self.remote_dial(server, host, port)

    @property
    def registry(self) -> str:
        """The built-in registry as every server's engine reaches it (its own loopback)."""
        return f"127.0.0.1:{self.registry_port}"
