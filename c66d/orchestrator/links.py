"""One server's SSH link: connect, forward its Docker socket, heartbeat, reconnect with backoff.

State rules: a server is `up` once its engine answered through the link; it is marked `down`
when nothing answered for `server_down_grace` seconds (a short blip that reconnects in time is
not an outage), at once when it was never up, and at once when its host key changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from c66d.errors import Unavailable
from c66d.events import EventBus
from c66d.logs import get_logger
from c66d.orchestrator.engines import Engines
from c66d.orchestrator.ssh import HostKeyChanged, Target, backoff_delay, open_connection
from c66d.store import Server, Store


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


@dataclass(frozen=True)
class LinkTimes:
    """Timings derived from the grace period, so tests with a short grace run fast."""

    grace: float

    @property
    def heartbeat(self) -> float:
        return _clamp(self.grace / 3, 0.2, 10.0)

    @property
    def timeout(self) -> float:
        return _clamp(self.grace, 2.0, 15.0)

    @property
    def backoff_cap(self) -> float:
        return _clamp(self.grace, 1.0, 30.0)


@dataclass(frozen=True)
class LinkDeps:
    store: Store
    events: EventBus
    engines: Engines
    client_key: asyncssh.SSHKey
    socket_dir: Path
    times: LinkTimes
    registry_port: Callable[[], int | None]


def describe(exc: BaseException) -> str:
    """A one-line reason for a failed connection attempt."""
    if isinstance(exc, Unavailable):
        return exc.message
    if isinstance(exc, asyncssh.PermissionDenied):
        return "SSH login refused: c66d's public key is not in the server's authorized_keys"
    if isinstance(exc, asyncssh.DisconnectError):
        return f"SSH disconnected: {exc.reason}"
    if isinstance(exc, TimeoutError):
        return "no answer (timed out)"
    text = str(exc) or type(exc).__name__
    return f"cannot connect: {text}"


class ServerLink:
    """Keeps one SSH connection to a server and its forwarded Docker engine."""

    def __init__(self, name: str, deps: LinkDeps) -> None:
        self.name = name
        self.deps = deps
        self.log = get_logger("c66d.orchestrator.servers", server=name)
        self.conn: asyncssh.SSHClientConnection | None = None
        self.state = "unknown"
        self.reason = ""
        self.last_ok: float | None = None  # monotonic time of the last answer
        self.tunnel_port: int | None = None
        self.attempts = 0
        self._tunnel_warned = False
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def socket_path(self) -> Path:
        return self.deps.socket_dir / f"{self.name}.sock"

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._run(), name=f"link-{self.name}"),
                       asyncio.create_task(self._watch(), name=f"watch-{self.name}")]

    def wake(self) -> None:
        """Retry now (after a host key was accepted)."""
        self._wake.set()

    async def stop(self) -> None:
        for task in self._tasks:
            while not task.done():  # cancel again should a cancel race with a finishing await
                task.cancel()
                await asyncio.wait([task], timeout=1.0)
            if not task.cancelled() and task.exception() is not None:
                self.log.error("link task ended with %r", task.exception())
        await self._drop("c66d is stopping")

    async def _run(self) -> None:
        expected = (OSError, asyncssh.Error, Unavailable, TimeoutError)
        while True:
            try:
                conn = await self._connect()
            except HostKeyChanged as exc:
                await self._refused(exc)
                delay = self.deps.times.backoff_cap
            except Exception as exc:
                if not isinstance(exc, expected):  # a bug must not end the link for good
                    self.log.exception("unexpected error while connecting")
                await self._failed(describe(exc))
                delay = backoff_delay(self.attempts, cap=self.deps.times.backoff_cap)
                self.attempts += 1
            else:
                self.attempts = 0
                try:
                    await self._serve(conn)
                except Exception:
                    self.log.exception("unexpected error on the link")
                delay = backoff_delay(0, cap=self.deps.times.backoff_cap)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    async def _connect(self) -> asyncssh.SSHClientConnection:
        server = await self.deps.store.servers.get(self.name)
        times = self.deps.times
        target = Target(server.name, server.address, server.port, server.username,
                        server.host_key)
        conn, presented = await open_connection(target, self.deps.client_key,
                                                connect_timeout=times.timeout,
                                                keepalive=times.heartbeat)
        try:
            if not server.host_key:
                await self.deps.store.servers.set_host_key(self.name, presented)
                self.log.info("host key recorded on first contact")
            await self._forward(conn, server)
            async with asyncio.timeout(times.timeout):
                version = await self.deps.engines.version(self.name)
        except BaseException:
            conn.abort()
            await self.deps.engines.detach(self.name)
            raise
        self.conn = conn
        await self._mark_up(version)
        return conn

    async def _forward(self, conn: asyncssh.SSHClientConnection, server: Server) -> None:
        self.socket_path.unlink(missing_ok=True)
        await conn.forward_local_path(str(self.socket_path), server.docker_socket)
        await self.deps.engines.attach(self.name, f"unix://{self.socket_path}")
        self.tunnel_port = None
        await self._open_tunnel(conn)

    async def _open_tunnel(self, conn: asyncssh.SSHClientConnection) -> None:
        """The registry on the server's loopback. A stale session of a lost connection may
        still hold the port on the server; heartbeats retry until it is free."""
        port = self.deps.registry_port()
        if not port or self.tunnel_port == port:
            return
        try:
            await conn.forward_remote_port("127.0.0.1", port, "127.0.0.1", port)
        except (OSError, asyncssh.Error, asyncssh.ChannelListenError) as exc:
            level = logging.DEBUG if self._tunnel_warned else logging.WARNING
            self._tunnel_warned = True
            self.log.log(level, "registry tunnel on the server's 127.0.0.1:%s not opened yet: %s",
                         port, exc or type(exc).__name__)
        else:
            self.tunnel_port, self._tunnel_warned = port, False

    async def _serve(self, conn: asyncssh.SSHClientConnection) -> None:
        """Heartbeat through the forwarded engine until the link breaks."""
        times = self.deps.times
        closed = asyncio.ensure_future(conn.wait_closed())
        reason = "connection closed"
        try:
            while True:
                await asyncio.wait([closed], timeout=times.heartbeat)
                if closed.done():
                    break
                try:
                    async with asyncio.timeout(times.timeout):
                        version = await self.deps.engines.version(self.name)
                except (Unavailable, TimeoutError) as exc:
                    reason = describe(exc)
                    break
                await self._open_tunnel(conn)
                if self.state != "up":  # answered again before the link was replaced
                    await self._mark_up(version)
                else:
                    self.last_ok = time.monotonic()
                    await self.deps.store.servers.seen(self.name, version)
        finally:
            closed.cancel()
            self.log.info("link lost: %s", reason)
            self.reason = f"reconnecting: {reason}"
            await self._drop(reason)

    async def _drop(self, why: str) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.abort()
        self.tunnel_port = None
        await self.deps.engines.detach(self.name, why)
        self.socket_path.unlink(missing_ok=True)

    async def _watch(self) -> None:
        """Mark the server down once nothing answered for the grace period."""
        times = self.deps.times
        while True:
            await asyncio.sleep(min(times.heartbeat, 1.0))
            if self.state == "up" and self.last_ok is not None:
                silent = time.monotonic() - self.last_ok
                if silent > times.grace:
                    why = f"; {self.reason}" if self.reason else ""
                    await self._mark_down(f"no answer for {silent:.1f}s{why}")

    async def _mark_up(self, version: str) -> None:
        self.last_ok = time.monotonic()
        previous, self.state, self.reason = self.state, "up", ""
        address = (await self.deps.store.servers.get(self.name)).address
        await self.deps.store.servers.set_state(self.name, "up", docker_version=version)
        if previous != "up":  # published right after the write: readers never see one alone
            self.deps.events.publish("server.up", server=self.name, address=address,
                                     docker_version=version)
            self.log.info("up (Docker %s)", version)

    async def _mark_down(self, reason: str) -> None:
        previous, self.state, self.reason = self.state, "down", reason
        address = (await self.deps.store.servers.get(self.name)).address
        await self.deps.store.servers.set_state(self.name, "down", reason=reason)
        if previous != "down":
            self.deps.events.publish("server.down", server=self.name, address=address,
                                     reason=reason)
            self.log.warning("down: %s", reason)

    async def _failed(self, reason: str) -> None:
        if self.last_ok is None:
            await self._mark_down(reason)  # never up: say why at once
        elif self.state != "up":  # down already: keep saying for how long, and the latest why
            silent = time.monotonic() - self.last_ok
            await self._mark_down(f"no answer for {silent:.1f}s; {reason}")
        else:
            self.reason = f"reconnecting: {reason}"

    async def _refused(self, exc: HostKeyChanged) -> None:
        await self.deps.store.servers.set_host_key(self.name, exc.presented, pending=True)
        await self._mark_down(exc.message)
