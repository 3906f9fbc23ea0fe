"""Compile the table into ready replies: every (name, type) -> the bytes after the question."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from c66d.dns import wire
from c66d.dns.records import Behaviour, Caller, ContainerRecord, TableState, is_label


@dataclass
class Entry:
    """The precomputed reply to one (name, type): header flags and counts, then the records.

    `heads` and `lean_heads` are indexed by `RD | OPT << 1` (see wire.heads); `lean_*` leave out
    the additional section, for when the full reply does not fit the client's UDP size.
    """

    heads: tuple[bytes, ...]
    answer: bytes = b""
    offsets: tuple[int, ...] = (0,)
    tail: bytes = b""
    lean_heads: tuple[bytes, ...] = ()
    lean_tail: bytes = b""
    records: tuple[bytes, ...] = ()
    members: tuple[ContainerRecord, ...] = ()
    behaviour: Behaviour | None = None  # set for a service's names: answers rotate or are shaped
    turn: int = 0


@dataclass
class Zone:
    entries: dict[bytes, Entry] = field(default_factory=dict)  # lowered wire name + 2-byte type
    names: dict[bytes, Entry] = field(default_factory=dict)  # every existing name -> NODATA
    apexes: dict[bytes, Entry] = field(default_factory=dict)  # each zone apex -> NXDOMAIN
    callers: dict[str, Caller] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    rrsets: dict[str, list[_Rec]] = field(default_factory=dict)
    # (name, type) -> (records, behaviour, entry): unchanged rrsets keep their entry next time
    built: dict[tuple[str, int], tuple[tuple[_Rec, ...], Behaviour | None, Entry]] = field(
        default_factory=dict)

    def listing(self, ttl: int) -> list[dict[str, Any]]:
        """Every record served, for people (the API)."""
        return [_listed(name, rec, ttl) for name, recs in self.rrsets.items() for rec in recs]


@dataclass(frozen=True)
class _Rec:
    rtype: int
    rdata: bytes
    text: str
    member: ContainerRecord | None = None
    additional: bytes = b""


class _Builder:
    def __init__(self, state: TableState, serial: int, previous: Zone | None) -> None:
        self.previous = previous.built if previous is not None else {}
        self.state = state
        self.zone = state.zone.strip(".").lower()
        self.serial = serial
        self.rrsets: dict[str, list[_Rec]] = {}
        self.shaped: dict[str, Behaviour] = {}
        self.apex_names = [self.zone, *reverse_apexes(state.cluster_range)]
        self.own_apexes = len(self.apex_names)  # later ones: single PTR names outside the range

    def add(self, name: str, rec: _Rec) -> None:
        self.rrsets.setdefault(name.lower(), []).append(rec)

    def add_address(self, name: str, address: str, member: ContainerRecord | None) -> None:
        rtype, rdata = wire.address_rdata(address)
        self.add(name, _Rec(rtype, rdata, address, member))

    def add_ptr(self, address: str, target: str) -> None:
        name = wire.reverse_name(address)
        self.add(name, _Rec(wire.PTR, wire.encode_name(target), target + "."))
        if not self.apex_of(name):
            self.apex_names.append(name)  # an address outside the cluster range: just this name

    def apex_of(self, name: str) -> str | None:
        for apex in self.apex_names:
            if name == apex or name.endswith("." + apex):
                return apex
        return None

    def add_container(self, c: ContainerRecord) -> None:
        service = f"{c.service}.{c.stack}.{self.zone}"
        host = f"{c.label}.{service}"
        behaviour = self.state.behaviours.get((c.stack, c.service), Behaviour())
        self.shaped[service] = behaviour
        self.add_address(service, c.address, c)
        self.add_address(host, c.address, None)
        self.add_ptr(c.address, host)
        rtype, packed = wire.address_rdata(c.address)
        glue = wire.record(wire.encode_name(host), rtype, self.state.ttl, packed)
        for port in c.ports:
            name = f"_{port.container}._{port.protocol}.{service}"
            self.shaped[name] = behaviour
            self.add(name, _Rec(wire.SRV, wire.srv_rdata(port.container, host),
                                f"0 10 {port.container} {host}.", c, glue))

    def build(self) -> Zone:
        for c in sorted(self.state.containers.values(), key=lambda c: (c.server, c.name, c.id)):
            self.add_container(c)
        for server, address in sorted(self.state.servers.items()):
            if is_label(server.lower()) and _is_ip(address):
                self.add_address(f"{server}.{self.zone}", address, None)
                self.add_ptr(address, f"{server}.{self.zone}")
        for stack, databases in sorted(self.state.databases.items()):
            for database, addresses in sorted(databases.items()):
                for address in addresses:
                    self.add_address(f"{database}.{stack}.{self.zone}", address, None)
        for apex in self.apex_names[:self.own_apexes]:
            self.add(apex, _Rec(wire.SOA, wire.soa_rdata(apex, self.serial, self.state.ttl),
                                f"ns.{apex}. hostmaster.{apex}. {self.serial}"))
            self.add(apex, _Rec(wire.NS, wire.encode_name("ns." + apex), f"ns.{apex}."))
        return self.compile()

    def soa(self, apex: str) -> bytes:
        rdata = wire.soa_rdata(apex, self.serial, self.state.ttl)
        return wire.record(wire.encode_name(apex), wire.SOA, self.state.ttl, rdata)

    def negative(self, apex: str, rcode: int) -> Entry:
        heads = wire.heads(wire.QR | wire.AA | wire.RA | rcode, 0, 1, 0)
        soa = self.soa(apex)
        return Entry(heads, tail=soa, lean_heads=heads, lean_tail=soa)

    def compile(self) -> Zone:
        zone = Zone()
        nodata = {apex: self.negative(apex, wire.NOERROR) for apex in self.apex_names}
        for apex in self.apex_names:
            zone.apexes[wire.encode_name(apex)] = self.negative(apex, wire.NXDOMAIN)
        for name, recs in self.rrsets.items():
            apex = self.apex_of(name) or name
            wire_name = wire.encode_name(name)
            for suffix in wire.suffixes(wire_name):  # the name and the empty non-terminals above
                zone.names.setdefault(suffix, nodata[apex])
                if suffix == wire.encode_name(apex):
                    break
            by_type: dict[int, list[_Rec]] = {}
            for rec in recs:
                by_type.setdefault(rec.rtype, []).append(rec)
            for rtype, group in by_type.items():
                zone.entries[wire_name + rtype.to_bytes(2, "big")] = self.reuse(
                    zone, name, rtype, tuple(group), self.shaped.get(name))
            zone.entries[wire_name + wire.ANY.to_bytes(2, "big")] = self.reuse(
                zone, name, wire.ANY, tuple(recs), None)
        zone.callers = self.callers()
        zone.rrsets = self.rrsets
        zone.counts = {
            "names": len(self.rrsets), "records": sum(len(r) for r in self.rrsets.values()),
            "containers": len(self.state.containers), "servers": len(self.state.servers),
        }
        return zone

    def reuse(self, zone: Zone, name: str, rtype: int, group: tuple[_Rec, ...],
              behaviour: Behaviour | None) -> Entry:
        """The entry built last time when nothing in it changed (its turn carries on)."""
        before = self.previous.get((name, rtype))
        if before is not None and before[0] == group and before[1] == behaviour:
            entry = before[2]
        else:
            entry = self.entry(group, behaviour)
        zone.built[(name, rtype)] = (group, behaviour, entry)
        return entry

    def entry(self, group: tuple[_Rec, ...], behaviour: Behaviour | None) -> Entry:
        ttl = self.state.ttl
        records = tuple(wire.record(wire.QUESTION_NAME, r.rtype, ttl, r.rdata) for r in group)
        extra = [r.additional for r in group if r.additional]
        offsets, at = [], 0
        for rec in records:
            offsets.append(at)
            at += len(rec)
        flags = wire.QR | wire.AA | wire.RA
        members = tuple(r.member for r in group if r.member is not None)
        return Entry(
            heads=wire.heads(flags, len(records), 0, len(extra)),
            answer=b"".join(records), offsets=tuple(offsets), tail=b"".join(extra),
            lean_heads=wire.heads(flags, len(records), 0, 0), records=records,
            members=members if len(members) == len(records) else (),
            behaviour=behaviour if len(records) > 1 else None,
        )

    def callers(self) -> dict[str, Caller]:
        out = {address: Caller(server=server) for server, address in self.state.servers.items()}
        for c in self.state.containers.values():
            out[c.address] = Caller(server=c.server, stack=c.stack, version=c.version)
        return out


def compile_zone(state: TableState, serial: int, previous: Zone | None = None) -> Zone:
    """The table's state in, every reply c66d can give from it out; entries of `previous`
    whose records did not change are kept rather than rebuilt."""
    return _Builder(state, serial, previous).build()


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


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _listed(name: str, rec: _Rec, ttl: int) -> dict[str, Any]:
    item: dict[str, Any] = {"name": name + ".", "type": wire.TYPE_NAMES.get(rec.rtype),
                            "ttl": ttl, "data": rec.text}
    if rec.member is not None:
        item.update(stack=rec.member.stack, service=rec.member.service,
                    server=rec.member.server, container=rec.member.id,
                    version=rec.member.version)
    return item
