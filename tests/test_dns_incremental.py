"""ElasticDNS incremental rebuild: after any series of changes, each answered from a table that
rebuilt only the names the change touched (and from its reply cache), the answers are those of a
table built from scratch with the same contents."""

from __future__ import annotations

import ipaddress
import random

from dnslib import DNSRecord

from c66d.dns.records import ContainerRecord, Port
from c66d.dns.resolver import Resolver
from c66d.dns.table import DnsTable
from c66d.dns.wire import decode_name
from c66d.dns.zone import Zone, compile_zone, reverse_apexes

ZONE = "c66.internal"
RANGE = "10.66.0.0/20"  # 16 reverse zones
QTYPES = ("A", "AAAA", "SRV", "PTR", "SOA", "NS", "ANY", "TXT")


def random_container(rng: random.Random, n: int) -> ContainerRecord:
    service = rng.choice(["web", "api", "worker", "db"])
    address = rng.choice([
        f"10.66.{rng.randrange(16)}.{rng.randrange(1, 250)}",  # in the range
        f"10.99.0.{rng.randrange(1, 250)}",  # outside it: a lone PTR zone
        f"fd66::{rng.randrange(1, 500):x}",
    ])
    ports = tuple(Port(p, rng.choice(["tcp", "udp"])) for p in rng.sample([80, 443, 53], 2))
    return ContainerRecord(f"id{n}", f"shop-{service}-{n}", rng.choice(["shop", "blog"]),
                           service, rng.choice(["s1", "s2", "s3"]), address,
                           rng.randrange(1, 4), ports[:rng.randrange(3)])


def change(table: DnsTable, rng: random.Random, step: int) -> None:
    """One random change of the kind events and the orchestrator make."""
    roll = rng.random()
    ids = list(table.state.containers)
    if roll < 0.5 or not ids:
        table.add(random_container(rng, step))
    elif roll < 0.68:
        table.remove(rng.choice(ids))
    elif roll < 0.8:  # the same container again: another version, server or address
        table.add(random_container(rng, int(rng.choice(ids)[2:])))
    elif roll < 0.87:
        name = rng.choice(["s1", "s2", "s4"])
        if rng.random() < 0.3:
            table.remove_server(name)
        else:
            table.set_server(name, rng.choice(["192.0.2.7", "10.66.0.1", f"10.66.3.{step % 200}"]))
    elif roll < 0.94:
        table.set_behaviour(rng.choice(["shop", "blog"]), rng.choice(["web", "api"]),
                            rng.choice(["roundrobin", "sticky", "closest"]),
                            rng.choice(["versioned", "non-versioned"]))
    elif roll < 0.99:
        table.set_databases("shop", {"postgresql": [f"10.66.9.{step % 9 + 1}"]}
                            if rng.random() < 0.7 else {})
    else:  # a resync that finds some gone
        table.replace([c for c in table.state.containers.values() if rng.random() < 0.8])


def fresh_like(table: DnsTable) -> DnsTable:
    """A new table fed the same contents in one go, at the same serial."""
    fresh = DnsTable(ZONE, table.state.ttl, RANGE)
    fresh.replace(table.state.containers.values())
    for name, address in table.state.servers.items():
        fresh.set_server(name, address)
    for (stack, service), behaviour in table.state.behaviours.items():
        fresh.set_behaviour(stack, service, behaviour.load_balancing, behaviour.dns_behaviour)
    for stack, databases in table.state.databases.items():
        fresh.set_databases(stack, databases)
    fresh.serial = table.serial - 1  # its one rebuild gives it the incremental table's serial
    return fresh


def expected(table: DnsTable) -> tuple[dict[str, list[str]], set[str], set[str]]:
    """Written out plainly from the contents: records by name, every name that exists (with
    the empty ones above them up to their zone), and the zones (own apexes, lone PTR names)."""
    state, z = table.state, ZONE
    own = [z, *reverse_apexes(RANGE)]
    rrsets: dict[str, list[str]] = {apex: [f"ns.{apex}. hostmaster.{apex}. {table.serial}",
                                           f"ns.{apex}."] for apex in own}

    def add(name: str, text: str) -> None:
        rrsets.setdefault(name, []).append(text)

    for c in state.containers.values():
        service = f"{c.service}.{c.stack}.{z}"
        host = f"{c.name}.{service}"
        add(service, c.address)
        add(host, c.address)
        add(ipaddress.ip_address(c.address).reverse_pointer, host + ".")
        for p in c.ports:
            add(f"_{p.container}._{p.protocol}.{service}", f"0 10 {p.container} {host}.")
    for server, address in state.servers.items():
        add(f"{server}.{z}", address)
        add(ipaddress.ip_address(address).reverse_pointer, f"{server}.{z}.")
    for stack, databases in state.databases.items():
        for database, addresses in databases.items():
            for address in addresses:
                add(f"{database}.{stack}.{z}", address)
    zones = set(own)
    existing = set()
    for name in rrsets:
        apex = next((a for a in own if name == a or name.endswith("." + a)), None)
        if apex is None:
            zones.add(name)
            existing.add(name)
            continue
        labels = name.split(".")
        existing.update(".".join(labels[i:]) for i in range(len(labels) - apex.count(".")))
    return {n: sorted(t) for n, t in rrsets.items()}, existing, zones


def entries_of(zone: Zone) -> dict[bytes, tuple[object, ...]]:
    return {key: (e.heads, e.answer, e.offsets, e.tail, e.lean_heads, e.lean_tail, e.records,
                  e.members, e.behaviour) for key, e in zone.entries.items()}


def negatives_of(zone: Zone) -> dict[bytes, tuple[object, ...]]:
    out: dict[bytes, tuple[object, ...]] = {}
    for kind, index in (("nodata", zone.names), ("nxdomain", zone.apexes)):
        for key, e in index.items():
            out[key + kind.encode()] = (e.heads, e.tail, e.lean_tail)
    return out


def questions(table: DnsTable, rng: random.Random) -> list[bytes]:
    names = [name for name in table.zone.rrsets] + [
        "_tcp.web.shop." + ZONE, "shop." + ZONE, "nothing.shop." + ZONE, "WEB.Shop." + ZONE,
        "3.0.66.10.in-addr.arpa", "9.9.9.10.in-addr.arpa", "x.1.0.99.10.in-addr.arpa"]
    picked = rng.sample(names, min(len(names), 60))
    return [bytes(DNSRecord.question(name, rng.choice(QTYPES)).pack()) for name in picked]


def records(reply: bytes | object) -> tuple[object, ...]:
    assert isinstance(reply, bytes)
    parsed = DNSRecord.parse(reply)
    return (parsed.header.rcode, parsed.header.aa, parsed.header.tc,
            sorted(str(r) for r in parsed.rr), sorted(str(r) for r in parsed.auth),
            sorted(str(r) for r in parsed.ar))


def test_answers_after_incremental_changes_equal_a_full_rebuild() -> None:
    rng = random.Random(7)
    table = DnsTable(ZONE, 5, RANGE)
    resolver = Resolver(table)
    callers = ["127.0.0.1", "10.66.0.1", "192.0.2.7"]
    most = 0
    for step in range(300):
        for _ in range(rng.randrange(1, 4)):  # sometimes several changes before a query
            change(table, rng, step)
        most = max(most, len(table.state.containers))
        if step % 5:
            continue
        incremental = table.zone
        full = compile_zone(table.state, table.serial)
        assert entries_of(incremental) == entries_of(full), f"step {step}"
        assert negatives_of(incremental) == negatives_of(full), f"step {step}"
        assert incremental.callers == full.callers
        assert {n: sorted(r.text for r in recs) for n, recs in incremental.rrsets.items()} == {
            n: sorted(r.text for r in recs) for n, recs in full.rrsets.items()}
        assert table.counts()["records"] == sum(len(r) for r in full.rrsets.values())
        rrsets, existing, zones = expected(table)
        assert {n: sorted(r.text for r in recs) for n, recs in incremental.rrsets.items()} == (
            rrsets)
        assert {decode_name(n) for n in incremental.names} == existing
        assert {decode_name(n) for n in incremental.apexes} == zones
        fresh = Resolver(fresh_like(table))
        for packet in questions(table, rng):
            caller = rng.choice(callers)
            for _ in range(2):  # the second one comes from the reply cache when it can
                ours = resolver.answer(packet, caller, False)
                theirs = fresh.answer(packet, caller, False)
                assert records(ours) == records(theirs), (step, DNSRecord.parse(packet).q)
                entry = table.zone.entries.get(packet[12:-4].lower() + packet[-4:-2])
                if entry is None or entry.behaviour is None:  # not rotated: byte for byte
                    assert ours == theirs, (step, DNSRecord.parse(packet).q)
    assert most > 40 and len(table.cache) > 0


def test_a_change_touches_only_its_names_and_keeps_other_cached_replies() -> None:
    table = DnsTable(ZONE, 5, RANGE)
    table.replace([ContainerRecord(f"c{i}", f"shop-svc{i}-1", "shop", f"svc{i}", "s1",
                                   f"10.66.1.{i + 1}", 1, (Port(80),)) for i in range(50)])
    resolver = Resolver(table)
    other = bytes(DNSRecord.question("svc7.shop." + ZONE).pack())
    resolver.answer(other, "127.0.0.1", False)
    assert other[2:] in table.replies
    table.add(ContainerRecord("new", "shop-svc3-2", "shop", "svc3", "s2", "10.66.2.9", 2,
                              (Port(80),)))
    assert table.replies == {}  # nothing is served from the cache until the change is in
    reply = resolver.answer(bytes(DNSRecord.question("svc3.shop." + ZONE).pack()),
                            "127.0.0.1", False)
    assert sorted(str(r.rdata) for r in records_of(reply)) == ["10.66.1.4", "10.66.2.9"]
    assert other[2:] in table.replies  # another service's cached reply stayed


def records_of(reply: object) -> list[object]:
    assert isinstance(reply, bytes)
    return list(DNSRecord.parse(reply).rr)
