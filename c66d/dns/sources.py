"""What each thing in the table puts in the zone: the records of one container, server,
database list or zone apex, by name (pure functions).

Every source has a key; a name's records are its sources' records in key order, so the zone
comes out the same whatever order the changes arrived in.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from c66d.dns import wire
from c66d.dns.records import Caller, ContainerRecord, is_label

# (kind, a, b, c): containers (0, server, name, id), servers (1, name), databases
# (2, stack, database), zone apexes (3, apex); records of one name come in this order.
SourceKey = tuple[int, str, str, str]
# (stack, service) whose behaviour shapes a name's answers
Shape = tuple[str, str]


@dataclass(frozen=True)
class Rec:
    """One record as served: type, rdata, its answer bytes (owner = the question), how people
    see it, the container behind it (for shaped answers) and its additional record (SRV glue)."""

    rtype: int
    rdata: bytes
    text: str
    answer: bytes = field(compare=False, repr=False)
    member: ContainerRecord | None = None
    additional: bytes = b""


@dataclass
class Contribution:
    """A source's records by lowered name, and the names it shapes."""

    records: dict[str, list[Rec]] = field(default_factory=dict)
    shapes: dict[str, Shape] = field(default_factory=dict)
    callers: dict[str, Caller] = field(default_factory=dict)  # who asks from which address

    def add(self, name: str, rec: Rec) -> None:
        self.records.setdefault(name.lower(), []).append(rec)


def make_rec(ttl: int, rtype: int, rdata: bytes, text: str,
             member: ContainerRecord | None = None, additional: bytes = b"") -> Rec:
    return Rec(rtype, rdata, text, wire.record(wire.QUESTION_NAME, rtype, ttl, rdata),
               member, additional)


def address_rec(ttl: int, address: str, member: ContainerRecord | None = None) -> Rec:
    rtype, rdata = wire.address_rdata(address)
    return make_rec(ttl, rtype, rdata, address, member)


def ptr(out: Contribution, ttl: int, address: str, target: str) -> None:
    out.add(wire.reverse_name(address),
            make_rec(ttl, wire.PTR, wire.encode_name(target), target + "."))


def container_key(c: ContainerRecord) -> SourceKey:
    return (0, c.server, c.name, c.id)


def of_container(c: ContainerRecord, zone: str, ttl: int) -> Contribution:
    """The service name, the container's own name, its PTR and one SRV name per port."""
    out = Contribution(callers={c.address: Caller(c.server, c.stack, c.version)})
    service = f"{c.service}.{c.stack}.{zone}"
    host = f"{c.label}.{service}"
    shape = (c.stack, c.service)
    out.add(service, address_rec(ttl, c.address, c))
    out.shapes[service] = shape
    out.add(host, address_rec(ttl, c.address))
    ptr(out, ttl, c.address, host)
    rtype, packed = wire.address_rdata(c.address)
    glue = wire.record(wire.encode_name(host), rtype, ttl, packed)
    for port in c.ports:
        name = f"_{port.container}._{port.protocol}.{service}"
        out.add(name, make_rec(ttl, wire.SRV, wire.srv_rdata(port.container, host),
                               f"0 10 {port.container} {host}.", c, glue))
        out.shapes[name.lower()] = shape
    return out


def server_key(name: str) -> SourceKey:
    return (1, name, "", "")


def of_server(name: str, address: str, zone: str, ttl: int) -> Contribution:
    """`<server>.<zone>` and its PTR; nothing for a name or address DNS cannot serve."""
    out = Contribution()
    if is_label(name.lower()) and is_ip(address):
        out.add(f"{name}.{zone}", address_rec(ttl, address))
        ptr(out, ttl, address, f"{name}.{zone}")
        out.callers[address] = Caller(server=name)
    return out


def database_key(stack: str, database: str) -> SourceKey:
    return (2, stack, database, "")


def of_database(stack: str, database: str, addresses: tuple[str, ...], zone: str,
                ttl: int) -> Contribution:
    out = Contribution()
    for address in addresses:
        if is_ip(address):
            out.add(f"{database}.{stack}.{zone}", address_rec(ttl, address))
    return out


def apex_key(apex: str) -> SourceKey:
    return (3, apex, "", "")


def of_apex(apex: str, serial: int, ttl: int) -> Contribution:
    out = Contribution()
    out.add(apex, make_rec(ttl, wire.SOA, wire.soa_rdata(apex, serial, ttl),
                           f"ns.{apex}. hostmaster.{apex}. {serial}"))
    out.add(apex, make_rec(ttl, wire.NS, wire.encode_name("ns." + apex), f"ns.{apex}."))
    return out


def reverse_apexes(cluster_range: str) -> list[str]:
    """The in-addr.arpa / ip6.arpa zones that cover the cluster range, on label boundaries."""
    net = ipaddress.ip_network(cluster_range)
    step = 8 if net.version == 4 else 4
    prefix = -(-net.prefixlen // step) * step
    if prefix - net.prefixlen > 8:  # too many zones: claim the enclosing one
        prefix = net.prefixlen // step * step
    drop = (net.max_prefixlen - prefix) // step
    return [".".join(sub.network_address.reverse_pointer.split(".")[drop:])
            for sub in net.subnets(new_prefix=prefix)]


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
