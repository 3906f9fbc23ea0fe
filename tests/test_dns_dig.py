"""ElasticDNS end to end: the whole app in-process, containers simulated by events, the real dig."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import encode_basic_auth, web
from aiohttp.test_utils import TestClient, TestServer

from c66d.app import create_app
from c66d.config import Config
from c66d.dns import DNS_SOURCE, DNS_TABLE, ContainerRecord, Port
from c66d.keys import LISTENERS
from c66d.store import Store
from tests.support.dns import StubUpstream, container, dig, publish, start_stub_upstream

ZONE = "c66.internal"
WEB = f"web.shop.{ZONE}"
ADMIN = {"Authorization": encode_basic_auth("admin", "admin-password-for-tests")}


@dataclass
class Running:
    client: TestClient[web.Request, web.Application]
    app: web.Application
    stub: StubUpstream
    stub_transport: asyncio.DatagramTransport

    @property
    def port(self) -> int:
        where = self.app[LISTENERS].dns
        assert where is not None
        return where.port


@pytest.fixture
async def dns(config: Config) -> AsyncIterator[Running]:
    """The app with its DNS forwarding to a stub upstream on loopback."""
    transport, stub, stub_port = await start_stub_upstream()
    app = create_app(config.replace(dns_upstreams=(f"127.0.0.1:{stub_port}",),
                                    cluster_range="10.66.0.0/16"))  # the records' addresses
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield Running(client, app, stub, transport)
    transport.close()


async def add_web(dns: Running, count: int, **kw: object) -> list[str]:
    addresses = [f"10.66.1.{i + 1}" for i in range(count)]
    for i, address in enumerate(addresses):
        await publish(dns.app, "container.healthy",
                      container(f"w{i}", address=address, ports=[80], **kw))  # type: ignore[arg-type]
    return addresses


async def test_service_name_follows_healthy_and_draining_containers(dns: Running) -> None:
    assert (await dig(dns.port, WEB)).status == "NXDOMAIN"
    await add_web(dns, 2)
    reply = await dig(dns.port, WEB)
    assert reply.status == "NOERROR" and "aa" in reply.flags
    assert sorted(reply.data("A")) == ["10.66.1.1", "10.66.1.2"]
    assert {r[1] for r in reply.answer} == {"5"}  # dns_ttl

    await publish(dns.app, "container.draining", {"id": "w0"})
    assert (await dig(dns.port, WEB)).data("A") == ["10.66.1.2"]
    await publish(dns.app, "container.removed", {"id": "w1"})
    assert (await dig(dns.port, WEB)).status == "NXDOMAIN"


async def test_names_are_case_insensitive_and_the_question_keeps_the_callers_case(
    dns: Running,
) -> None:
    await add_web(dns, 1)
    reply = await dig(dns.port, "WeB.ShOp.C66.InTeRnAl")
    assert reply.status == "NOERROR"
    assert reply.question[0] == "WeB.ShOp.C66.InTeRnAl."
    assert reply.answer[0][0] == "WeB.ShOp.C66.InTeRnAl."
    assert reply.data("A") == ["10.66.1.1"]


async def test_nodata_for_aaaa_on_ipv4_name_and_nxdomain_with_the_apex_soa(dns: Running) -> None:
    await add_web(dns, 1)
    nodata = await dig(dns.port, WEB, "AAAA")
    assert nodata.status == "NOERROR" and nodata.answer == []
    assert [r[0] for r in nodata.authority] == [f"{ZONE}."]
    assert nodata.authority[0][3] == "SOA"

    empty_non_terminal = await dig(dns.port, f"shop.{ZONE}")
    assert empty_non_terminal.status == "NOERROR" and empty_non_terminal.answer == []

    unknown = await dig(dns.port, f"nothing.shop.{ZONE}")
    assert unknown.status == "NXDOMAIN" and "aa" in unknown.flags
    assert [(r[0], r[3]) for r in unknown.authority] == [(f"{ZONE}.", "SOA")]

    await publish(dns.app, "container.healthy", container("v6", address="fd66::5"))
    assert (await dig(dns.port, WEB, "AAAA")).data("AAAA") == ["fd66::5"]


async def test_srv_ptr_and_server_names(dns: Running) -> None:
    await add_web(dns, 2)
    srv = await dig(dns.port, f"_80._tcp.{WEB}", "SRV")
    assert sorted(srv.data("SRV")) == [f"0 10 80 shop-web-w0.{WEB}.", f"0 10 80 shop-web-w1.{WEB}."]
    assert sorted(r[4] for r in srv.additional if r[3] == "A") == ["10.66.1.1", "10.66.1.2"]
    assert (await dig(dns.port, f"_81._tcp.{WEB}", "SRV")).status == "NXDOMAIN"
    assert (await dig(dns.port, f"shop-web-w1.{WEB}")).data("A") == ["10.66.1.2"]

    ptr = await dig(dns.port, "10.66.1.2", "PTR", "-x")
    assert ptr.data("PTR") == [f"shop-web-w1.{WEB}."]
    unknown = await dig(dns.port, "10.66.9.9", "PTR", "-x")
    assert unknown.status == "NXDOMAIN"
    assert unknown.authority[0][0] == "66.10.in-addr.arpa."

    await publish(dns.app, "server.added", {"server": "edge1", "address": "10.66.0.7"})
    assert (await dig(dns.port, f"edge1.{ZONE}")).data("A") == ["10.66.0.7"]
    assert (await dig(dns.port, "10.66.0.7", "PTR", "-x")).data("PTR") == [f"edge1.{ZONE}."]
    await publish(dns.app, "server.removed", {"server": "edge1"})
    assert (await dig(dns.port, f"edge1.{ZONE}")).status == "NXDOMAIN"


async def test_server_addresses_come_from_the_store_at_start(config: Config) -> None:
    store = Store(config.data_dir / "c66d.db")
    config.data_dir.mkdir(parents=True)
    await store.open()
    await store.servers.add("db1", kind="ssh", address="10.66.0.9")
    await store.close()
    app = create_app(config.replace(dns_upstreams=("none",)))
    async with TestClient(TestServer(app, host="127.0.0.1")):
        where = app[LISTENERS].dns
        assert where is not None
        assert (await dig(where.port, f"db1.{ZONE}")).data("A") == ["10.66.0.9"]
        assert (await dig(where.port, "example.org")).status == "REFUSED"  # `none`: no upstreams


async def test_truncation_keeps_the_question_and_tcp_gives_everything(dns: Running) -> None:
    addresses = await add_web(dns, 60)  # 60 A records: about 1 KB
    plain = await dig(dns.port, WEB, "A", "+noedns", "+ignore")
    assert "tc" in plain.flags
    assert plain.question[0] == f"{WEB}." and plain.answer == []
    retried = await dig(dns.port, WEB, "A", "+noedns")  # dig retries over TCP by itself
    assert sorted(retried.data("A")) == sorted(addresses)
    assert "Truncated, retrying in TCP mode" in retried.text

    over_tcp = await dig(dns.port, WEB, "A", "+tcp")
    assert "tc" not in over_tcp.flags and len(over_tcp.answer) == 60

    small = await dig(dns.port, WEB, "A", "+bufsize=512", "+ignore")
    assert "tc" in small.flags and small.answer == []
    large = await dig(dns.port, WEB, "A", "+bufsize=1232", "+ignore")
    assert "tc" not in large.flags and len(large.answer) == 60


async def test_edns_is_echoed_and_an_unknown_version_gets_badvers(dns: Running) -> None:
    await add_web(dns, 1)
    reply = await dig(dns.port, WEB, "A", "+bufsize=4096")
    assert "version: 0" in reply.edns and "udp: 1232" in reply.edns
    assert (await dig(dns.port, WEB, "A", "+noedns")).edns == ""
    badvers = await dig(dns.port, WEB, "A", "+edns=1", "+noednsnegotiation")
    assert badvers.status == "BADVERS"
    assert badvers.question[0] == f"{WEB}." and badvers.answer == []


async def udp_exchange(port: int, packet: bytes, wait: float = 1.0) -> bytes | None:
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.connect(("127.0.0.1", port))
        await loop.sock_sendall(sock, packet)
        try:
            return await asyncio.wait_for(loop.sock_recv(sock, 4096), wait)
        except TimeoutError:
            return None


async def test_garbage_gets_formerr_or_nothing_and_the_server_carries_on(dns: Running) -> None:
    await add_web(dns, 1)
    header = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    cut_question = await udp_exchange(dns.port, header + b"\x03web\x04sh")
    assert cut_question is not None
    assert cut_question[:2] == b"\x12\x34" and cut_question[3] & 0x0F == 1  # FORMERR
    assert cut_question[2] & 0x80  # a response
    trailing = await udp_exchange(dns.port, header + b"\x00\x00\x01\x00\x01" + b"junk" * 3)
    assert trailing is not None and trailing[3] & 0x0F == 1
    assert await udp_exchange(dns.port, b"\x01\x02\x03", wait=0.3) is None  # no header: dropped
    assert (await dig(dns.port, WEB)).data("A") == ["10.66.1.1"]


async def test_other_names_are_forwarded_and_servfail_when_the_upstream_is_gone(
    dns: Running,
) -> None:
    reply = await dig(dns.port, "www.example.org")
    assert reply.status == "NOERROR" and reply.data("A") == ["192.0.2.1"]
    assert "www.example.org." in dns.stub.asked
    assert (await dig(dns.port, "mail.example.org", "A", "+tcp")).data("A") == ["192.0.2.1"]

    dns.stub_transport.close()
    await asyncio.sleep(0.05)
    down = await dig(dns.port, "www.example.org")
    assert down.status == "SERVFAIL"
    assert down.question[0] == "www.example.org."


async def test_roundrobin_rotates_and_sticky_keeps_the_first_answer(dns: Running) -> None:
    await add_web(dns, 3)
    firsts = {(await dig(dns.port, WEB)).data("A")[0] for _ in range(3)}
    assert firsts == {"10.66.1.1", "10.66.1.2", "10.66.1.3"}

    dns.app[DNS_TABLE].set_behaviour("shop", "web", "sticky", "non-versioned")
    answers = {tuple((await dig(dns.port, WEB, source="127.0.0.1")).data("A")) for _ in range(4)}
    assert len(answers) == 1


async def test_versioned_and_closest_answers_depend_on_the_caller(dns: Running) -> None:
    table = dns.app[DNS_TABLE]
    table.set_behaviour("shop", "web", "closest", "versioned")
    await publish(dns.app, "container.healthy",
                  container("old", address="10.66.1.1", server="s1", version=1))
    await publish(dns.app, "container.healthy",
                  container("new", address="10.66.2.1", server="s2", version=2))
    # callers: api containers of each version, on the loopback addresses dig can send from
    await publish(dns.app, "container.healthy",
                  container("a1", service="api", address="127.0.0.21", server="s1", version=1))
    await publish(dns.app, "container.healthy",
                  container("a2", service="api", address="127.0.0.22", server="s2", version=2))
    assert (await dig(dns.port, WEB, source="127.0.0.21")).data("A") == ["10.66.1.1"]
    assert (await dig(dns.port, WEB, source="127.0.0.22")).data("A") == ["10.66.2.1"]
    everyone = await dig(dns.port, WEB, source="127.0.0.1")
    assert sorted(everyone.data("A")) == ["10.66.1.1", "10.66.2.1"]

    table.set_behaviour("shop", "web", "closest", "non-versioned")
    for _ in range(3):  # the caller's own server first, whatever the turn
        assert (await dig(dns.port, WEB, source="127.0.0.22")).data("A")[0] == "10.66.2.1"
        assert (await dig(dns.port, WEB, source="127.0.0.21")).data("A")[0] == "10.66.1.1"


async def test_records_api_and_status_show_what_is_served(dns: Running) -> None:
    await add_web(dns, 2)
    resp = await dns.client.get("/api/v1/dns/records", headers=ADMIN)
    assert resp.status == 200
    body = await resp.json()
    web_records = [r for r in body["records"] if r["name"] == f"{WEB}." and r["type"] == "A"]
    assert sorted(r["data"] for r in web_records) == ["10.66.1.1", "10.66.1.2"]
    assert web_records[0]["stack"] == "shop" and web_records[0]["server"] == "s1"
    assert body["zone"] == ZONE and body["counts"]["containers"] == 2

    assert (await dns.client.get("/api/v1/dns/records")).status == 401
    status = await (await dns.client.get("/api/v1/status")).json()
    assert status["subsystems"]["dns"]["containers"] == 2
    assert status["subsystems"]["dns"]["state"] == "ok"


async def test_the_orchestrators_source_fills_the_table_at_start(config: Config) -> None:
    async def healthy_now() -> list[ContainerRecord]:
        return [ContainerRecord("c1", "shop-worker-1", "shop", "worker", "s1", "10.66.3.3", 4,
                                (Port(9000, "udp"),))]

    app = create_app(config.replace(dns_upstreams=("none",)))
    app[DNS_SOURCE] = healthy_now
    async with TestClient(TestServer(app, host="127.0.0.1")):
        where = app[LISTENERS].dns
        assert where is not None
        assert (await dig(where.port, f"worker.shop.{ZONE}")).data("A") == ["10.66.3.3"]
        srv = await dig(where.port, f"_9000._udp.worker.shop.{ZONE}", "SRV")
        assert srv.data("SRV") == [f"0 10 9000 shop-worker-1.worker.shop.{ZONE}."]
