"""IP address management, pure: subnets of the cluster range, addresses inside a subnet.

The first subnet of the cluster range is kept back (for link addresses of the overlay); a
subnet's network, gateway (its first host, the Docker bridge) and broadcast addresses are never
handed to containers. Addresses are handed out after the last one given, wrapping around, so an
address just released is not reused at once (DNS caches may still name it for a TTL).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection
from ipaddress import IPv4Address, IPv4Network


class RangeFull(Exception):
    """No subnet or address is left."""


def network(text: str) -> IPv4Network:
    net = ipaddress.ip_network(text, strict=True)
    if not isinstance(net, IPv4Network):
        raise ValueError(f"{text}: only IPv4 ranges are supported")
    return net


def next_subnet(cluster: str, prefix: int, used: Collection[str]) -> str:
    """The first /prefix of the cluster range not in `used` (the very first is reserved)."""
    whole = network(cluster)
    if prefix <= whole.prefixlen or prefix > 30:
        raise ValueError(f"subnet prefix /{prefix} does not fit in {cluster}")
    taken = {network(u) for u in used}
    for index, subnet in enumerate(whole.subnets(new_prefix=prefix)):
        if index == 0:
            continue
        if not any(subnet.overlaps(t) for t in taken):
            return str(subnet)
    raise RangeFull(f"every /{prefix} subnet of {cluster} is in use")


def gateway(subnet: str) -> str:
    """The subnet's first host: the address of its Docker bridge on the server."""
    return str(network(subnet).network_address + 1)


def next_address(subnet: str, used: Collection[str], last: str = "") -> str:
    """The first free host address after `last` (wrapping), skipping the gateway."""
    net = network(subnet)
    first = int(net.network_address) + 2
    end = int(net.broadcast_address)  # exclusive
    size = end - first
    if size <= 0:
        raise RangeFull(f"subnet {subnet} has no room for containers")
    taken = {int(IPv4Address(u)) for u in used}
    start = first
    if last and IPv4Address(last) in net and first <= int(IPv4Address(last)) < end:
        start = int(IPv4Address(last)) + 1
    for step in range(size):
        candidate = first + (start - first + step) % size
        if candidate not in taken:
            return str(IPv4Address(candidate))
    raise RangeFull(f"every address of subnet {subnet} is in use")


def contains(cluster: str, address: str) -> bool:
    try:
        return IPv4Address(address) in network(cluster)
    except ValueError:
        return False
