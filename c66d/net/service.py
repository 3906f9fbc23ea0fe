"""ContainerNet as a whole: subnets, Docker networks, addresses, and the overlay's upkeep.

`app[NET]` (a ContainerNet) is what the orchestrator calls: `attach(server, container, stack)`
before creating a container, `release(server, container)` after removing one. Server events keep
the rest in step: `server.added/up` give a server its subnet and bridge (and mesh membership),
`server.removed` frees its subnet, `container.removed` frees the container's address.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import aiodocker
from aiohttp import web

from c66d.events import Event, EventBus
from c66d.keys import CONFIG, EVENTS, STATUS_PROBES, STORE
from c66d.logs import get_logger
from c66d.net import api
from c66d.net.attach import Attachment
from c66d.net.dockernet import ensure_network
from c66d.net.ipam import gateway
from c66d.net.keys import MESH, NET
from c66d.net.overlay import Mesh
from c66d.net.shell import Ran, Shell
from c66d.net.vxlan import VxlanMesh
from c66d.net.wgkeys import key_pair
from c66d.store import Store, Subnet

CONTROL = "local"  # the server that is the c66d host itself
ORPHAN_AGE = 600.0  # seconds before an address without a recorded container is taken back


@dataclass(frozen=True)
class NetSettings:
    cluster: str
    prefix: int
    name: str
    zone: str
    overlay: str = "wireguard"
    port: int = 51866


class ContainerNet:
    def __init__(self, store: Store, events: EventBus, settings: NetSettings,
                 docker: Callable[[str], aiodocker.Docker]) -> None:
        self.store, self.events, self.settings = store, events, settings
        self.docker = docker
        self.control_address = ""  # gateway of the c66d host's own subnet
        self.dns_address = ""  # set once c66d's DNS listens there for containers
        self.on_change: Callable[[], None] = lambda: None  # the overlay's resync trigger
        self._ready: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self.log = get_logger("c66d.net")

    async def start(self) -> None:
        control = await self.subnet(CONTROL)
        self.control_address = gateway(control.subnet)
        taken = await self.store.net.release_orphans(ORPHAN_AGE)
        if taken:
            self.log.info("%d addresses without a container went back to the pool", taken)

    async def subnet(self, server: str) -> Subnet:
        return await self.store.net.ensure_subnet(server, self.settings.cluster,
                                                  self.settings.prefix, key_pair())

    async def ensure_network(self, server: str) -> Subnet:
        """The server's subnet and its bridge on the server's engine (checked once per link)."""
        subnet = await self.subnet(server)
        if server in self._ready:
            return subnet
        async with self._locks.setdefault(server, asyncio.Lock()):
            if server not in self._ready:
                made = await ensure_network(self.docker(server), self.settings.name,
                                            subnet.subnet)
                if made:
                    self.log.info("network %s %s made on %s", self.settings.name,
                                  subnet.subnet, server)
                self._ready.add(server)
        return subnet

    async def attach(self, server: str, holder: str, stack: str) -> Attachment:
        """An address for container `holder` on `server`, with c66d's DNS as its resolver."""
        if server != CONTROL and self.dns_address:
            await self.ensure_network(CONTROL)  # the resolver's address lives on that bridge
        await self.ensure_network(server)
        lease = await self.store.net.lease(server, holder, stack)
        dns = (self.dns_address,) if self.dns_address else ()
        return Attachment(self.settings.name, lease.address, dns,
                          (f"{stack}.{self.settings.zone}",))

    async def release(self, server: str, holder: str) -> None:
        address = await self.store.net.release(server, holder)
        if address:
            self.log.debug("address %s of %s on %s released", address, holder, server)

    def forget(self, server: str) -> None:
        """Check the server's bridge again before its next container (its link was new)."""
        self._ready.discard(server)

    async def on_event(self, event: Event) -> None:
        server = str(event.data.get("server", ""))
        if event.kind == "container.removed" and server:
            name = str(event.data.get("name", ""))
            if await self.store.containers.named(server, name) is None:  # not recreated
                await self.release(server, name)
        elif event.kind in ("server.added", "server.up") and server:
            self.forget(server)
            await self.subnet(server)
            self.on_change()
        elif event.kind == "server.removed" and server:
            self.forget(server)
            await self.store.net.release_subnet(server)
            self.on_change()

    async def follow(self) -> None:
        with self.events.subscribe(["server.", "container.removed"]) as events:
            async for event in events:
                try:
                    await self.on_event(event)
                except Exception:  # one bad event must not end the upkeep
                    self.log.exception("handling %s failed", event.kind)


def settings_of(app: web.Application) -> NetSettings:
    config = app[CONFIG]
    return NetSettings(config.cluster_range, config.server_subnet_prefix, config.net_name,
                       config.dns_zone, config.net_overlay, config.net_port)


def _make_mesh(app: web.Application, net: ContainerNet, kind: type[Mesh] = Mesh) -> Mesh:
    from c66d.orchestrator.servers import SERVERS  # at call time: the orchestrator imports us

    def reachable(server: str) -> str | None:
        """The c66d host's address as the server's SSH link sees it; None: not connected."""
        link = app[SERVERS].links.get(server) if SERVERS in app else None
        conn = link.conn if link is not None else None
        where = conn.get_extra_info("sockname") if conn is not None else None
        return str(where[0]) if where else None

    async def remote(server: str, argv: Sequence[str], stdin: str | None) -> Ran:
        done = await app[SERVERS].run(server, argv, input=stdin, check=False)
        return Ran(done.argv, done.exit_status, done.stdout, done.stderr)

    return kind(net, Shell(remote, CONTROL), reachable)


async def _net_ctx(app: web.Application) -> AsyncIterator[None]:
    from c66d.orchestrator import ENGINES  # at call time: the orchestrator imports us

    net = ContainerNet(app[STORE], app[EVENTS], settings_of(app),
                       lambda server: app[ENGINES].client(server))
    app[NET] = net
    await net.start()
    tasks = [asyncio.create_task(net.follow(), name="net-follow")]
    mesh = None
    if net.settings.overlay in ("wireguard", "vxlan"):
        kind = VxlanMesh if net.settings.overlay == "vxlan" else Mesh
        mesh = app[MESH] = _make_mesh(app, net, kind)
        net.on_change = mesh.trigger
        tasks.append(asyncio.create_task(mesh.run(), name="net-mesh"))
    yield
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if mesh is not None:
        await mesh.close()


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_net_ctx)
    api.setup(app)

    async def probe() -> dict[str, object]:
        if NET not in app:
            return {"state": "down"}
        net = app[NET]
        subnets = await net.store.net.subnets()
        return {"state": "ok", "cluster_range": net.settings.cluster,
                "control_address": net.control_address, "dns": net.dns_address or None,
                "subnets": {s.server: s.subnet for s in subnets}}

    app[STATUS_PROBES]["net"] = probe
