"""The overlay between servers, planned as data (pure): WireGuard configuration, routes and
firewall rules of one node, as text and argv lists. c66d/net/overlay.py runs them.

Every server with a subnet is a node; the c66d host is the node of the server `local` (its
subnet's gateway is the address containers use for DNS). Each node's WireGuard interface has
every other node as a peer whose allowed IPs are that node's subnet, and a route to that subnet
through the interface. Docker's firewall drops forwarded packets that come from outside its
bridges and masquerades those that leave them: one rule accepts what arrives through the
overlay, one keeps container addresses intact between subnets of the cluster range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from c66d.net.ipam import gateway, network

VXLAN_ID = 66  # the VNI; the UDP port (net_port) keeps clusters on one host apart

KEEPALIVE = 25  # seconds; also makes the first handshake happen at once
# wireguard-go in the foreground, detached from the SSH session that starts it; the
# interface name is the script's $1 (never pasted into the script)
DETACH = 'setsid -f wireguard-go -f "$1" </dev/null >/dev/null 2>&1'


@dataclass(frozen=True)
class Node:
    server: str
    subnet: str
    public_key: str
    endpoint: str  # host other nodes send to; for the c66d host it depends on the viewer


@dataclass(frozen=True)
class Peer:
    server: str
    public_key: str
    endpoint: str  # "host:port" or "" (the peer's endpoint is learnt when it writes first)
    allowed: str


def subnet_index(cluster: str, subnet: str) -> int:
    whole, part = network(cluster), network(subnet)
    size = 2 ** (part.max_prefixlen - part.prefixlen)
    return int((int(part.network_address) - int(whole.network_address)) // size)


def interface_name(net_name: str, cluster: str, subnet: str, kind: str = "wireguard") -> str:
    """`<net_name>w<index of the subnet in the cluster range>` (`x` for VXLAN): unique per
    node, <= 15 chars."""
    return f"{net_name}{'x' if kind == 'vxlan' else 'w'}{subnet_index(cluster, subnet)}"


def host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def peers_for(me: str, nodes: Sequence[Node], port: int, control_endpoint: str) -> list[Peer]:
    """The peers of node `me`; `control_endpoint` is how `me` reaches the c66d host."""
    peers = []
    for node in nodes:
        if node.server == me:
            continue
        host = control_endpoint if node.endpoint == "" else node.endpoint
        peers.append(Peer(node.server, node.public_key, host_port(host, port) if host else "",
                          node.subnet))
    return peers


def wg_config(private_key: str, port: int, peers: Sequence[Peer]) -> str:
    """The `wg syncconf` file (given on stdin: the private key never appears in an argv)."""
    lines = ["[Interface]", f"PrivateKey = {private_key}", f"ListenPort = {port}"]
    for peer in peers:
        lines += ["", "[Peer]", f"PublicKey = {peer.public_key}", f"AllowedIPs = {peer.allowed}",
                  f"PersistentKeepalive = {KEEPALIVE}"]
        if peer.endpoint:
            lines.append(f"Endpoint = {peer.endpoint}")
    return "\n".join(lines) + "\n"


def route_changes(interface: str, own_subnet: str, wanted: Sequence[str],
                  present: str) -> list[list[str]]:
    """argv to make the interface's routes exactly `wanted`; `present` is the output of
    `ip -o -4 route show dev IFACE`."""
    have = {line.split()[0] for line in present.splitlines() if line.strip()}
    commands = [["ip", "route", "del", subnet, "dev", interface]
                for subnet in sorted(have - set(wanted))]
    commands += [["ip", "route", "replace", subnet, "dev", interface,
                  "src", gateway(own_subnet)] for subnet in wanted]
    return commands


def firewall_rules(interface: str, own_subnet: str, cluster: str) -> list[list[str]]:
    """iptables rule specs (after the table/command): checked with -C, inserted with -I."""
    return [
        ["-t", "filter", "DOCKER-USER", "-i", interface, "-j", "ACCEPT"],
        ["-t", "nat", "POSTROUTING", "-s", own_subnet, "-d", cluster, "-j", "RETURN"],
    ]


def rule_argv(verb: str, rule: Sequence[str]) -> list[str]:
    """`iptables -t TABLE -C|-I|-D CHAIN ...` for one of firewall_rules()."""
    table, chain, rest = rule[:2], rule[2], rule[3:]
    return ["iptables", "-w", "5", *table, verb, chain, *rest]


def parse_handshakes(text: str) -> dict[str, int]:
    """`wg show IFACE latest-handshakes`: public key -> unix time (0: never)."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            out[parts[0]] = int(parts[1])
    return out


def parse_endpoints(text: str) -> dict[str, str]:
    """`wg show IFACE endpoints`: public key -> host:port ('' when none is known)."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if parts:
            out[parts[0]] = parts[1] if len(parts) > 1 and parts[1] != "(none)" else ""
    return out



# --- VXLAN (`net_overlay = vxlan`, for trusted networks: nothing is encrypted) ----------------
#
# Each node has a VXLAN interface with a MAC made from its subnet's index and, as tunnel end
# ("vtep"), its subnet's network address (never given to a container). For every other node:
# a forwarding entry (its MAC -> its underlay address), a permanent neighbour (its vtep -> its
# MAC) and a route to its subnet via its vtep. No learning, no multicast: all of it is planned.


@dataclass(frozen=True)
class VxlanPeer:
    server: str
    subnet: str
    mac: str
    vtep: str
    underlay: str  # the address VXLAN packets for it go to ("" when not known yet)


def vxlan_mac(cluster: str, subnet: str) -> str:
    index = subnet_index(cluster, subnet)
    return "02:c6:6d:" + ":".join(f"{b:02x}" for b in index.to_bytes(3, "big"))


def vtep(subnet: str) -> str:
    return str(network(subnet).network_address)


def vxlan_peers(me: str, nodes: Sequence[Node], cluster: str,
                control_endpoint: str) -> list[VxlanPeer]:
    """Node `me`'s peers; `control_endpoint` is the c66d host's address as `me` sees it."""
    return [VxlanPeer(n.server, n.subnet, vxlan_mac(cluster, n.subnet), vtep(n.subnet),
                      control_endpoint if n.endpoint == "" else n.endpoint)
            for n in nodes if n.server != me]


def vxlan_create(interface: str, mac: str, port: int) -> list[str]:
    return ["ip", "link", "add", interface, "address", mac, "type", "vxlan", "id",
            str(VXLAN_ID), "dstport", str(port), "nolearning"]


def vxlan_matches(details: str, mac: str, port: int) -> bool:
    """`ip -d -o link show IFACE` describes the VXLAN interface vxlan_create would make."""
    words = details.split()
    return (f"link/ether {mac}" in " ".join(words) and "vxlan" in words
            and _after(words, "id") == str(VXLAN_ID) and _after(words, "dstport") == str(port))


def _after(words: list[str], key: str) -> str:
    return words[words.index(key) + 1] if key in words[:-1] else ""


def fdb_changes(interface: str, peers: Sequence[VxlanPeer], present: str) -> list[list[str]]:
    """argv to make the interface's forwarding entries one per peer; `present` is the output
    of `bridge fdb show dev IFACE`."""
    have = set()
    for line in present.splitlines():
        words = line.split()
        if words and "dst" in words[:-1]:
            have.add((words[0], _after(words, "dst")))
    wanted = {(p.mac, p.underlay) for p in peers if p.underlay}
    out = [["bridge", "fdb", "del", mac, "dev", interface, "dst", dst, "self"]
           for mac, dst in sorted(have - wanted)]
    out += [["bridge", "fdb", "append", mac, "dev", interface, "dst", dst, "self", "permanent"]
            for mac, dst in sorted(wanted - have)]
    return out


def neighbour_changes(interface: str, peers: Sequence[VxlanPeer],
                      present: str) -> list[list[str]]:
    """argv for one permanent neighbour per peer; `present`: `ip -4 neigh show dev IFACE`."""
    have = {}
    for line in present.splitlines():
        words = line.split()
        if words:
            have[words[0]] = _after(words, "lladdr")
    wanted = {p.vtep: p.mac for p in peers}
    out = [["ip", "neigh", "del", address, "dev", interface]
           for address in sorted(set(have) - set(wanted))]
    out += [["ip", "neigh", "replace", address, "lladdr", mac, "dev", interface, "nud",
             "permanent"] for address, mac in sorted(wanted.items()) if have.get(address) != mac]
    return out


def vxlan_route_changes(interface: str, own_subnet: str, peers: Sequence[VxlanPeer],
                        present: str) -> list[list[str]]:
    """argv for a route to each peer's subnet via its vtep; stale ones deleted."""
    have = {line.split()[0] for line in present.splitlines() if line.strip()}
    out = [["ip", "route", "del", subnet, "dev", interface]
           for subnet in sorted(have - {p.subnet for p in peers})]
    out += [["ip", "route", "replace", p.subnet, "via", p.vtep, "dev", interface, "onlink",
             "src", gateway(own_subnet)] for p in peers]
    return out


def parse_fdb(text: str) -> dict[str, list[str]]:
    """`bridge fdb show dev IFACE`: MAC -> the underlay addresses it is sent to."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        words = line.split()
        if words and "dst" in words[:-1]:
            out.setdefault(words[0], []).append(_after(words, "dst"))
    return out
