"""The VXLAN mesh at run time (`net_overlay = vxlan`): the same upkeep as the WireGuard one
(c66d/net/overlay.py: coalesced syncs on server join/leave/return), applying mesh.py's VXLAN plan:
interface, forwarding entries, neighbours, routes and firewall rules of each reachable node."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from typing import Any

from c66d.errors import C66dError
from c66d.net import mesh
from c66d.net.mesh import Node
from c66d.net.overlay import CONTROL, Mesh


class VxlanMesh(Mesh):
    def iface(self, subnet: str) -> str:
        return mesh.interface_name(self.settings.name, self.settings.cluster, subnet, "vxlan")

    async def nodes(self) -> list[Node]:
        """As for WireGuard, with each server's address resolved: VXLAN sends to addresses."""
        return [Node(n.server, n.subnet, n.public_key, await _address(n.endpoint))
                for n in await super().nodes()]

    async def apply(self, node: Node, nodes: list[Node]) -> None:
        server, iface = node.server, self.iface(node.subnet)
        run = self.shell.run
        await self.net.ensure_network(server)
        wireguard = mesh.interface_name(self.settings.name, self.settings.cluster, node.subnet)
        await run(server, ["ip", "link", "del", wireguard], check=False)  # overlay switched
        mac = mesh.vxlan_mac(self.settings.cluster, node.subnet)
        details = await run(server, ["ip", "-d", "-o", "link", "show", iface], check=False)
        if not details.ok or not mesh.vxlan_matches(details.stdout, mac, self.settings.port):
            if details.ok:
                await run(server, ["ip", "link", "del", iface])
            await run(server, mesh.vxlan_create(iface, mac, self.settings.port))
        await run(server, ["ip", "link", "set", iface, "up"])
        control = "" if server == CONTROL else await _address(self.reachable(server) or "")
        peers = mesh.vxlan_peers(server, nodes, self.settings.cluster, control)
        fdb = await run(server, ["bridge", "fdb", "show", "dev", iface])
        neighbours = await run(server, ["ip", "-4", "neigh", "show", "dev", iface])
        routes = await run(server, ["ip", "-o", "-4", "route", "show", "dev", iface])
        for argv in [*mesh.fdb_changes(iface, peers, fdb.stdout),
                     *mesh.neighbour_changes(iface, peers, neighbours.stdout),
                     *mesh.vxlan_route_changes(iface, node.subnet, peers, routes.stdout)]:
            await run(server, argv)
        for rule in mesh.firewall_rules(iface, node.subnet, self.settings.cluster):
            if not (await run(server, mesh.rule_argv("-C", rule), check=False)).ok:
                await run(server, mesh.rule_argv("-I", rule))

    async def close(self) -> None:
        """Take the c66d host's interface and firewall rules away; servers keep theirs."""
        control = await self.net.store.net.subnet(CONTROL)
        if control is None:
            return
        iface = self.iface(control.subnet)
        with contextlib.suppress(C66dError, OSError):
            await self.shell.run(CONTROL, ["ip", "link", "del", iface], check=False)
            for rule in mesh.firewall_rules(iface, control.subnet, self.settings.cluster):
                await self.shell.run(CONTROL, mesh.rule_argv("-D", rule), check=False)

    async def _node_status(self, node: Node, names: dict[str, str]) -> dict[str, Any]:
        iface = self.iface(node.subnet)
        view: dict[str, Any] = {
            "server": node.server, "subnet": node.subnet, "interface": iface,
            "mac": mesh.vxlan_mac(self.settings.cluster, node.subnet),
            "vtep": mesh.vtep(node.subnet), "endpoint": node.endpoint or None, "peers": [],
            **self.state.get(node.server, {"applied_at": None, "error": ""})}
        if node.server != CONTROL and not self.reachable(node.server):
            view["error"] = view["error"] or "server not connected"
            return view
        try:
            fdb = await self.shell.run(node.server, ["bridge", "fdb", "show", "dev", iface])
        except (C66dError, OSError) as exc:
            view["error"] = getattr(exc, "message", str(exc))
            return view
        present = mesh.parse_fdb(fdb.stdout)
        nodes = await self.nodes()
        view["peers"] = [{"server": p.server, "mac": p.mac, "vtep": p.vtep,
                          "endpoint": (present.get(p.mac) or [""])[0] or None,
                          "in_fdb": p.mac in present, "latest_handshake": None}
                         for p in mesh.vxlan_peers(node.server, nodes, self.settings.cluster,
                                                   "")]
        return view


async def _address(host: str) -> str:
    """An IP address for `host` ('' when it has none)."""
    if not host:
        return ""
    with contextlib.suppress(ValueError):
        return str(ipaddress.ip_address(host))
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    except OSError:
        return ""
    return str(found[0][4][0]) if found else ""
