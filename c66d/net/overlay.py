"""The WireGuard mesh at run time: keeps every reachable node's interface, peers, routes and
firewall rules as c66d/net/mesh.py plans them, whenever servers come, go or come back.

wireguard-go runs in the foreground: on the c66d host as c66d's child (restarted if it ends),
on servers detached from the SSH session that started it. Syncs are coalesced: events only mark
the mesh dirty; one task applies the whole plan.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from c66d.errors import C66dError
from c66d.logs import get_logger
from c66d.net import mesh
from c66d.net.mesh import Node
from c66d.net.shell import Shell
from c66d.store import Server

CONTROL = "local"
Reachable = Callable[[str], str | None]  # server -> the c66d host's address as it sees us


class Mesh:
    def __init__(self, net: Any, shell: Shell, reachable: Reachable) -> None:
        self.net = net  # ContainerNet (typed loosely: it imports us)
        self.shell = shell
        self.reachable = reachable
        self.settings = net.settings
        self.state: dict[str, dict[str, Any]] = {}  # per node: applied_at, error
        self.log = get_logger("c66d.net.mesh")
        self._dirty = asyncio.Event()
        self._local: asyncio.subprocess.Process | None = None
        self._local_iface = ""
        self._lock = asyncio.Lock()

    def trigger(self) -> None:
        self._dirty.set()

    async def run(self) -> None:
        while True:
            await self._dirty.wait()
            await asyncio.sleep(0.2)  # several servers coming up together: one sync
            self._dirty.clear()
            try:
                await self.sync()
            except Exception:
                self.log.exception("mesh sync failed")

    def iface(self, subnet: str) -> str:
        return mesh.interface_name(self.settings.name, self.settings.cluster, subnet)

    async def nodes(self) -> list[Node]:
        servers: dict[str, Server] = {s.name: s for s in await self.net.store.servers.all()}
        return [Node(s.server, s.subnet, s.public_key,
                     "" if s.server == CONTROL else servers[s.server].address)
                for s in await self.net.store.net.subnets() if s.server in servers]

    async def sync(self) -> None:
        async with self._lock:
            nodes = await self.nodes()
            if len(nodes) < 2:
                return  # nobody to talk to: no interface at all
            targets = [n for n in nodes if n.server == CONTROL or self.reachable(n.server)]
            await asyncio.gather(*(self._apply_one(n, nodes) for n in targets))

    async def _apply_one(self, node: Node, nodes: list[Node]) -> None:
        try:
            await self.apply(node, nodes)
        except (C66dError, OSError) as exc:
            message = getattr(exc, "message", str(exc))
            self.state[node.server] = {"applied_at": None, "error": message}
            self.log.warning("mesh on %s: %s", node.server, message)
        else:
            self.state[node.server] = {"applied_at": time.time(), "error": ""}

    async def apply(self, node: Node, nodes: list[Node]) -> None:
        server, iface = node.server, self.iface(node.subnet)
        await self.net.ensure_network(server)  # the bridge whose gateway is the route source
        vxlan = mesh.interface_name(self.settings.name, self.settings.cluster, node.subnet,
                                    "vxlan")
        await self.shell.run(server, ["ip", "link", "del", vxlan], check=False)  # switched
        await self.ensure_interface(server, iface)
        control_endpoint = "" if server == CONTROL else (self.reachable(server) or "")
        peers = mesh.peers_for(server, nodes, self.settings.port, control_endpoint)
        private = await self.net.store.net.private_key(server)
        await self.shell.run(server, ["wg", "syncconf", iface, "/dev/stdin"],
                             stdin=mesh.wg_config(private, self.settings.port, peers))
        await self.shell.run(server, ["ip", "link", "set", iface, "up"])
        present = await self.shell.run(server, ["ip", "-o", "-4", "route", "show", "dev", iface])
        for argv in mesh.route_changes(iface, node.subnet, [p.allowed for p in peers],
                                       present.stdout):
            await self.shell.run(server, argv)
        for rule in mesh.firewall_rules(iface, node.subnet, self.settings.cluster):
            if not (await self.shell.run(server, mesh.rule_argv("-C", rule), check=False)).ok:
                await self.shell.run(server, mesh.rule_argv("-I", rule))

    async def ensure_interface(self, server: str, iface: str) -> None:
        if server == CONTROL and self._local is None:
            # not ours: a wireguard-go left by a c66d killed with -9 (it ends with its
            # interface); it holds the port and answers with nobody supervising it
            await self.shell.run(server, ["ip", "link", "del", iface], check=False)
        elif (await self.shell.run(server, ["wg", "show", iface, "public-key"],
                                   check=False)).ok:
            return
        if server == CONTROL:
            await self._start_local(iface)
        else:
            await self.shell.run(server, ["sh", "-c", mesh.DETACH, "sh", iface])
        for _ in range(50):  # bounded: 5 s for the interface and its control socket
            if (await self.shell.run(server, ["wg", "show", iface, "public-key"],
                                     check=False)).ok:
                return
            await asyncio.sleep(0.1)
        raise C66dError(f"wireguard-go made no interface {iface} on {server} in 5 s")

    async def _start_local(self, iface: str) -> None:
        await self._stop_local()
        self._local = await asyncio.create_subprocess_exec(
            "wireguard-go", "-f", iface, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        self._local_iface = iface
        proc = self._local

        async def supervise() -> None:
            await proc.wait()
            if self._local is proc:  # ended on its own: start again on the next sync
                self.log.warning("wireguard-go for %s ended (%s); restarting", iface,
                                 proc.returncode)
                self._local = None
                self.trigger()

        asyncio.get_running_loop().create_task(supervise(), name=f"supervise-{iface}")

    async def _stop_local(self) -> None:
        proc, self._local = self._local, None
        if proc is not None and proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                proc.kill()
                await proc.wait()

    async def close(self) -> None:
        """Stop the c66d host's interface and take its firewall rules back; servers keep
        theirs (their containers keep reaching each other while c66d is away)."""
        iface = self._local_iface
        await self._stop_local()
        if not iface:
            return
        control = await self.net.store.net.subnet(CONTROL)
        if control is not None:
            for rule in mesh.firewall_rules(iface, control.subnet, self.settings.cluster):
                with contextlib.suppress(C66dError, OSError):
                    await self.shell.run(CONTROL, mesh.rule_argv("-D", rule), check=False)

    async def status(self) -> dict[str, Any]:
        nodes = await self.nodes()
        names = {n.public_key: n.server for n in nodes}
        views = await asyncio.gather(*(self._node_status(n, names) for n in nodes))
        return {"overlay": self.settings.overlay, "port": self.settings.port, "nodes": views}

    async def _node_status(self, node: Node, names: dict[str, str]) -> dict[str, Any]:
        iface = self.iface(node.subnet)
        view: dict[str, Any] = {"server": node.server, "subnet": node.subnet,
                                "interface": iface, "public_key": node.public_key,
                                "endpoint": node.endpoint or None, "peers": [],
                                **self.state.get(node.server, {"applied_at": None,
                                                               "error": ""})}
        if node.server != CONTROL and not self.reachable(node.server):
            view["error"] = view["error"] or "server not connected"
            return view
        try:
            shakes = await self.shell.run(node.server, ["wg", "show", iface,
                                                        "latest-handshakes"])
            ends = await self.shell.run(node.server, ["wg", "show", iface, "endpoints"])
        except (C66dError, OSError) as exc:
            view["error"] = getattr(exc, "message", str(exc))
            return view
        endpoints = mesh.parse_endpoints(ends.stdout)
        view["peers"] = [{"server": names.get(key, "?"), "public_key": key,
                          "endpoint": endpoints.get(key) or None,
                          "latest_handshake": at or None}
                         for key, at in sorted(mesh.parse_handshakes(shakes.stdout).items())]
        return view
