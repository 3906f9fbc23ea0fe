"""ElasticDNS pure parts: behaviours, upstream choice, zone compilation, the packet resolver."""

from __future__ import annotations

import pytest
from dnslib import EDNS0, QTYPE, RCODE, DNSRecord

from c66d.config import HostPort
from c66d.dns.behaviour import STICKY_SECONDS, StickyBook, arrange, candidates, closest_first
from c66d.dns.feed import apply_event
from c66d.dns.forward import choose_upstreams, parse_upstream
from c66d.dns.records import Behaviour, Caller, ContainerRecord, Port
from c66d.dns.resolver import Resolver
from c66d.dns.table import DnsTable
from c66d.dns.zone import reverse_apexes


def rec(cid: str, server: str = "s1", version: int = 1, address: str = "10.66.1.1",
        service: str = "web") -> ContainerRecord:
    return ContainerRecord(cid, f"shop-{service}-{cid}", "shop", service, server, address,
                           version, (Port(80),))


MEMBERS = [rec("a", "s1", 1), rec("b", "s2", 1), rec("c", "s1", 2), rec("d", "s2", 2)]


def test_versioned_gives_a_caller_its_own_version_and_others_everything() -> None:
    versioned = Behaviour(dns_behaviour="versioned")
    assert candidates(MEMBERS, versioned, Caller("s1", "shop", 2)) == [2, 3]
    assert candidates(MEMBERS, versioned, Caller("s1", "shop", 7)) == [0, 1, 2, 3]  # none of it
    assert candidates(MEMBERS, versioned, Caller("s1", "other", 2)) == [0, 1, 2, 3]
    assert candidates(MEMBERS, versioned, None) == [0, 1, 2, 3]
    assert candidates(MEMBERS, Behaviour(), Caller("s1", "shop", 2)) == [0, 1, 2, 3]


def test_closest_puts_the_callers_server_first_and_rotates_each_group() -> None:
    assert closest_first([0, 1, 2, 3], MEMBERS, Caller("s2"), 0) == [1, 3, 0, 2]
    assert closest_first([0, 1, 2, 3], MEMBERS, Caller("s2"), 1) == [3, 1, 2, 0]
    assert closest_first([0, 1, 2, 3], MEMBERS, None, 1) == [1, 2, 3, 0]


def test_roundrobin_and_sticky_orders() -> None:
    firsts = {arrange(MEMBERS, Behaviour(), None, turn)[0][0] for turn in range(4)}
    assert firsts == {0, 1, 2, 3}
    sticky = Behaviour("sticky")
    order, chosen = arrange(MEMBERS, sticky, None, 5)
    assert chosen == "b" and order == [1, 0, 2, 3]
    assert arrange(MEMBERS, sticky, None, 6, chosen) == (order, "b")  # same answer, any turn
    gone = MEMBERS[:1] + MEMBERS[2:]
    order, moved = arrange(gone, sticky, None, 6, "b")  # its container left: another one
    assert moved in {"a", "c", "d"} and gone[order[0]].id == moved


def test_sticky_book_forgets_after_about_a_minute() -> None:
    book = StickyBook()
    book.put(b"web", "10.66.1.9", "a", now=100.0)
    book.put(b"web", "10.66.1.9", "a", now=150.0)  # asking again does not extend it
    assert book.get(b"web", "10.66.1.9", now=100.0 + STICKY_SECONDS - 1) == "a"
    assert book.get(b"web", "10.66.1.9", now=100.0 + STICKY_SECONDS + 1) is None
    assert book.get(b"web", "10.66.1.8", now=101.0) is None


def test_upstreams_come_from_the_setting_or_resolv_conf_but_never_ourselves() -> None:
    conf = "# host\nsearch lan\nnameserver 127.0.0.1\nnameserver 10.0.0.2\nnameserver fd00::53\n"
    me = HostPort("127.0.0.1", 53)
    assert choose_upstreams((), conf, me) == [("10.0.0.2", 53), ("fd00::53", 53)]
    assert choose_upstreams((), conf, HostPort("127.0.0.1", 5353))[0] == ("127.0.0.1", 53)
    assert choose_upstreams(("127.0.0.2:53", "192.0.2.9"), conf, HostPort("0.0.0.0", 53)) == [
        ("192.0.2.9", 53)]
    assert choose_upstreams(("none",), conf, me) == []
    assert choose_upstreams(("not-an-ip",), conf, me) == []
    assert parse_upstream("[fd00::1]:5353") == ("fd00::1", 5353)


def test_reverse_zones_cover_the_cluster_range_on_label_boundaries() -> None:
    assert reverse_apexes("10.66.0.0/16") == ["66.10.in-addr.arpa"]
    assert reverse_apexes("10.66.0.0/23") == ["0.66.10.in-addr.arpa", "1.66.10.in-addr.arpa"]
    assert reverse_apexes("fd00::/48") == ["0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa"]


def test_events_change_the_table_and_bad_ones_are_ignored() -> None:
    table = DnsTable("c66.internal", 5, "10.66.0.0/16")
    data = {"id": "x1", "name": "shop-web-1", "stack": "Shop", "service": "web",
            "server": "s1", "address": "10.66.1.4", "version": 3,
            "ports": [{"container": 80, "protocol": "tcp"}]}
    assert apply_event(table, "container.healthy", data)
    assert table.state.containers["x1"].stack == "shop"
    assert not apply_event(table, "container.healthy", {**data, "id": "x2", "address": ""})
    assert not apply_event(table, "container.healthy", {**data, "id": "x3", "service": "we b"})
    assert not apply_event(table, "build.finished", {"build": 1})
    assert apply_event(table, "container.stopped", {"id": "x1"})
    assert table.state.containers == {}


def ask(resolver: Resolver, name: str, qtype: str = "A", *, caller: str = "127.0.0.1",
        tcp: bool = False, edns: int | None = None) -> DNSRecord:
    query = DNSRecord.question(name, qtype)
    if edns is not None:
        query.add_ar(EDNS0(udp_len=edns))
    reply = resolver.answer(bytes(query.pack()), caller, tcp)
    assert isinstance(reply, bytes)
    return DNSRecord.parse(reply)


@pytest.fixture
def table() -> DnsTable:
    table = DnsTable("c66.internal", 7, "10.66.0.0/16")
    table.replace([rec(str(i), address=f"10.66.1.{i + 1}") for i in range(3)])
    return table


def test_replace_loads_the_whole_table_and_rotation_visits_everyone(table: DnsTable) -> None:
    resolver = Resolver(table)
    firsts = [str(ask(resolver, "web.shop.c66.internal").rr[0].rdata) for _ in range(3)]
    assert sorted(firsts) == ["10.66.1.1", "10.66.1.2", "10.66.1.3"]
    assert all(rr.ttl == 7 for rr in ask(resolver, "web.shop.c66.internal").rr)
    table.replace([rec("9", address="10.66.5.5")])
    assert [str(r.rdata) for r in ask(resolver, "web.shop.c66.internal").rr] == ["10.66.5.5"]


def test_rotation_carries_on_when_another_service_changes(table: DnsTable) -> None:
    resolver = Resolver(table)
    before = [str(ask(resolver, "web.shop.c66.internal").rr[0].rdata) for _ in range(2)]
    table.add(rec("other", address="10.66.7.7", service="api"))  # the zone is rebuilt
    after = str(ask(resolver, "web.shop.c66.internal").rr[0].rdata)
    assert len({*before, after}) == 3


def test_versioned_answers_carry_the_right_counts(table: DnsTable) -> None:
    table.add(rec("new", version=2, address="10.66.2.1"))
    table.add(rec("caller", version=2, address="10.66.3.1", service="api"))
    table.set_behaviour("shop", "web", "roundrobin", "versioned")
    reply = ask(Resolver(table), "web.shop.c66.internal", caller="10.66.3.1")
    assert reply.header.a == 1 and str(reply.rr[0].rdata) == "10.66.2.1"
    srv = ask(Resolver(table), "_80._tcp.web.shop.c66.internal", "SRV", caller="10.66.3.1")
    assert srv.header.a == 1 and len(srv.rr) == 1
    with pytest.raises(ValueError):
        table.set_behaviour("shop", "web", "fastest", "versioned")


def test_sticky_keeps_each_caller_on_one_container_for_a_minute(table: DnsTable) -> None:
    now = [1000.0]
    resolver = Resolver(table, clock=lambda: now[0])
    table.set_behaviour("shop", "web", "sticky")

    def first(caller: str) -> str:
        return str(ask(resolver, "web.shop.c66.internal", caller=caller).rr[0].rdata)

    mine = first("10.66.9.1")
    for _ in range(5):
        now[0] += 10
        assert first("10.66.9.1") == mine
    spread = {first(f"10.66.9.{i}") for i in range(2, 5)}
    assert len(spread) > 1  # different callers land on different containers
    assert len(resolver.sticky) == 4
    now[0] += STICKY_SECONDS
    assert resolver.sticky.get(b"\x03web\x04shop\x03c66\x08internal\x00\x00\x01", "10.66.9.1",
                               now[0]) is None


def test_srv_drops_its_additional_records_before_truncating(table: DnsTable) -> None:
    table.replace([rec(str(i), address=f"10.66.1.{i + 1}") for i in range(8)])
    resolver = Resolver(table)
    reply = ask(resolver, "_80._tcp.web.shop.c66.internal", "SRV")  # 512 bytes without EDNS
    assert reply.header.tc == 0 and len(reply.rr) == 8 and reply.ar == []
    full = ask(resolver, "_80._tcp.web.shop.c66.internal", "SRV", edns=1232)
    assert len(full.rr) == 8 and len([r for r in full.ar if r.rtype == QTYPE.A]) == 8


def test_databases_hook_and_apex_records(table: DnsTable) -> None:
    table.set_databases("shop", {"postgresql": ["10.66.4.1"]})
    resolver = Resolver(table)
    assert str(ask(resolver, "postgresql.shop.c66.internal").rr[0].rdata) == "10.66.4.1"
    soa = ask(resolver, "c66.internal", "SOA")
    assert soa.header.rcode == RCODE.NOERROR and soa.rr[0].rtype == QTYPE.SOA
    assert ask(resolver, "c66.internal", "NS").rr[0].rtype == QTYPE.NS
    assert len(ask(resolver, "web.shop.c66.internal", "ANY").rr) == 3
    table.set_databases("shop", {})
    assert ask(resolver, "postgresql.shop.c66.internal").header.rcode == RCODE.NXDOMAIN


def test_odd_but_valid_queries_are_rewritten_and_answered(table: DnsTable) -> None:
    resolver = Resolver(table)
    query = DNSRecord.question("web.shop.c66.internal", "A")
    query.add_ar(EDNS0(udp_len=1232))
    packet = bytearray(query.pack())
    packet[2] |= 0x10  # opcode 2 (STATUS): not implemented
    reply = resolver.answer(bytes(packet), "127.0.0.1", False)
    assert isinstance(reply, bytes) and reply[3] & 0x0F == RCODE.NOTIMP
    response = bytearray(query.pack())
    response[2] |= 0x80  # a response, not a query: never answered
    assert resolver.answer(bytes(response), "127.0.0.1", False) is None
    assert resolver.answer(b"\x00\x01\x01\x00\x00\x00", "127.0.0.1", False) is None
    chaos = DNSRecord.question("version.bind", "TXT", "CH")
    reply = resolver.answer(bytes(chaos.pack()), "127.0.0.1", False)
    assert isinstance(reply, bytes) and reply[3] & 0x0F == RCODE.REFUSED


def test_the_same_query_bytes_see_a_change_at_once(table: DnsTable) -> None:
    resolver = Resolver(table)
    packet = bytes(DNSRecord.question("web.shop.c66.internal", "AAAA").pack())
    for _ in range(2):  # the second answer comes from the reply cache
        reply = resolver.answer(packet, "127.0.0.1", False)
        assert isinstance(reply, bytes) and DNSRecord.parse(reply).rr == []
    table.add(rec("v6", address="fd66::1"))
    reply = resolver.answer(packet, "127.0.0.1", False)
    assert isinstance(reply, bytes) and reply[:2] == packet[:2]
    assert [str(r.rdata) for r in DNSRecord.parse(reply).rr] == ["fd66::1"]
