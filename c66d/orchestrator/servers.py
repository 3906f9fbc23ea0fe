"""Servers reached over SSH: adding and removing them, their links, host keys, remote commands."""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh
from aiohttp import web

from c66d.errors import Conflict, Invalid, NotFound, Unavailable
from c66d.events import EventBus
from c66d.logs import get_logger
from c66d.orchestrator.engines import Engines
from c66d.orchestrator.links import LinkDeps, LinkTimes, ServerLink, describe
from c66d.orchestrator.ssh import (
    RemoteCommandFailed,
    Result,
    fingerprint,
    public_key_line,
    remote_command,
    run_argv,
)
from c66d.store import Server, Store

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")
_USER = re.compile(r"^[A-Za-z0-9._][A-Za-z0-9._-]{0,31}$")
RESERVED_NAMES = {"key", "local"}
SOCKET_PATH_MAX = 100  # sun_path is 108 bytes; keep room for "<name>.sock"


@dataclass(frozen=True)
class ServerSpec:
    """A validated `POST /api/v1/servers` body."""

    name: str
    address: str
    port: int = 22
    user: str = "root"
    docker_socket: str = "/var/run/docker.sock"
    roles: list[str] = field(default_factory=lambda: ["app"])


def parse_server_spec(body: dict[str, Any]) -> ServerSpec:
    """Check every field; raise Invalid listing each problem by key."""
    errors: list[dict[str, str]] = []

    def bad(key: str, message: str) -> None:
        errors.append({"key": key, "message": message})

    name, address = body.get("name"), body.get("address")
    port, user = body.get("port", 22), body.get("user", "root")
    socket, roles = body.get("docker_socket", "/var/run/docker.sock"), body.get("roles", ["app"])
    if not isinstance(name, str) or not _NAME.match(name):
        bad("name", "must be 1-32 of a-z, 0-9 and '-', not starting or ending with '-'")
    elif name in RESERVED_NAMES:
        bad("name", f"{name!r} is reserved")
    if not isinstance(address, str) or not address.strip() or any(c.isspace() for c in address):
        bad("address", "must be a host name or IP address")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        bad("port", "must be a number 1..65535")
    if not isinstance(user, str) or not _USER.match(user):
        bad("user", "must be a user name (letters, digits, '.', '_', '-')")
    if not isinstance(socket, str) or not socket.startswith("/") or "\0" in socket:
        bad("docker_socket", "must be an absolute path on the server")
    if not isinstance(roles, list) or not all(isinstance(r, str) and r for r in roles):
        bad("roles", "must be a list of role names")
    extra = sorted(set(body) - {"name", "address", "port", "user", "docker_socket", "roles"})
    for key in extra:
        bad(key, "unknown field")
    if errors:
        raise Invalid("the server is not valid: " + "; ".join(
            f"{e['key']}: {e['message']}" for e in errors), detail={"errors": errors})
    assert isinstance(name, str) and isinstance(address, str) and isinstance(user, str)
    assert isinstance(port, int) and isinstance(socket, str) and isinstance(roles, list)
    return ServerSpec(name, address.strip(), port, user, socket, list(roles))


def socket_dir_for(data_root: Path) -> tuple[Path, bool]:
    """Where forwarded Docker sockets live: data_dir/run, or a private temporary folder when
    that path is too long for a Unix socket. Returns (folder, is_temporary)."""
    preferred = data_root.resolve() / "run"
    if len(str(preferred)) + 40 <= SOCKET_PATH_MAX:
        preferred.mkdir(mode=0o700, exist_ok=True)
        return preferred, False
    return Path(tempfile.mkdtemp(prefix="c66d-run-")), True


class Servers:
    """All SSH servers: one ServerLink each, started with c66d and stopped with it."""

    def __init__(self, store: Store, events: EventBus, engines: Engines,
                 client_key: asyncssh.SSHKey, data_root: Path, grace: float,
                 registry_port: Callable[[], int | None]) -> None:
        self.store, self.events, self.engines = store, events, engines
        self.client_key = client_key
        self.socket_dir, self._temporary = socket_dir_for(data_root)
        self.deps = LinkDeps(store, events, engines, client_key, self.socket_dir,
                             LinkTimes(grace), registry_port)
        self.links: dict[str, ServerLink] = {}
        self.log = get_logger("c66d.orchestrator.servers")
        ssh_log = logging.getLogger("asyncssh")
        if ssh_log.getEffectiveLevel() < logging.WARNING and not self.log.isEnabledFor(
                logging.DEBUG):  # asyncssh logs every channel (each heartbeat) at INFO
            ssh_log.setLevel(logging.WARNING)

    @property
    def public_key(self) -> str:
        return public_key_line(self.client_key)

    @property
    def public_key_fingerprint(self) -> str:
        return fingerprint(self.public_key)

    async def start(self) -> None:
        for server in await self.store.servers.all():
            if server.kind == "ssh":  # what the last run saw is stale until the link says
                await self.store.servers.set_state(server.name, "unknown",
                                                   reason="connecting since c66d started")
                self._spawn(server.name)

    async def close(self) -> None:
        for link in list(self.links.values()):
            await link.stop()
        self.links.clear()
        if self._temporary:
            shutil.rmtree(self.socket_dir, ignore_errors=True)

    def _spawn(self, name: str) -> None:
        link = ServerLink(name, self.deps)
        self.links[name] = link
        link.start()

    async def add(self, spec: ServerSpec) -> Server:
        server = await self.store.servers.add(
            spec.name, kind="ssh", address=spec.address, port=spec.port, username=spec.user,
            docker_socket=spec.docker_socket, roles=spec.roles)
        self.events.publish("server.added", server=server.name, address=server.address)
        self._spawn(server.name)
        return server

    async def remove(self, name: str) -> None:
        server = await self.store.servers.get(name)
        if server.kind == "local":
            raise Conflict("the local server cannot be removed")
        link = self.links.pop(name, None)
        if link is not None:
            await link.stop()
        await self.store.servers.remove(name)
        self.events.publish("server.removed", server=name, address=server.address)

    async def accept_key(self, name: str) -> Server:
        """Pin the new host key the server presented; the link retries at once."""
        server = await self.store.servers.get(name)
        if not await self.store.servers.accept_pending_host_key(name):
            raise Conflict(f"server {name!r} has no changed host key waiting to be accepted",
                           detail={"host_key": fingerprint(server.host_key)})
        self.log.info("new host key of %s accepted", name)
        if name in self.links:
            self.links[name].wake()
        return await self.store.servers.get(name)

    def live(self, name: str) -> dict[str, Any]:
        """What only the running link knows: connected now, tunnel, reconnect attempts."""
        link = self.links.get(name)
        if link is None:
            return {"connected": self.engines.connected(name), "registry_tunnel": None}
        return {"connected": link.conn is not None, "registry_tunnel": link.tunnel_port,
                "reconnect_attempts": link.attempts}

    async def run(self, server: str, argv: Sequence[str], *, input: str | None = None,
                  time_limit: float | None = 120.0, check: bool = True) -> Result:
        """Run argv on the server over its SSH link; non-zero exit raises RemoteCommandFailed
        (unless check=False)."""
        remote_command(argv)  # refuse a bad argv before looking at the link
        link = self.links.get(server)
        if link is None:
            await self.store.servers.get(server)  # NotFound for unknown names
            raise Unavailable(f"server {server!r} is not reached over SSH")
        conn = link.conn
        if conn is None:
            raise Unavailable(f"server {server!r} is not connected: {link.reason or link.state}",
                              detail={"server": server})
        try:
            result = await run_argv(conn, argv, input=input, time_limit=time_limit)
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            raise Unavailable(f"running {argv[0]!r} on server {server!r} failed:"
                              f" {describe(exc)}") from exc
        if check and not result.ok:
            raise RemoteCommandFailed(server, result)
        return result

    async def dial(self, server: str, host: str, port: int
                   ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP stream to host:port as seen from the server (e.g. a container's address),
        through the server's SSH link: plain asyncio streams, like asyncio.open_connection."""
        conn = self.link(server).conn
        if conn is None:
            raise Unavailable(f"server {server!r} is not connected: {self.link(server).reason}")
        try:
            listener = await conn.forward_local_port("127.0.0.1", 0, host, port)
        except (OSError, asyncssh.Error) as exc:
            raise Unavailable(f"cannot reach {host}:{port} from server {server!r}:"
                              f" {describe(exc)}") from exc
        try:
            return await asyncio.open_connection("127.0.0.1", listener.get_port())
        finally:
            listener.close()

    def link(self, name: str) -> ServerLink:
        if name not in self.links:
            raise NotFound(f"server {name!r} is not reached over SSH")
        return self.links[name]


SERVERS = web.AppKey("servers", Servers)
