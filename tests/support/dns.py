"""Helpers for DNS tests: run the real `dig`, simulate containers, a stub upstream resolver."""

from __future__ import annotations

import asyncio
import re
import shutil
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from dnslib import QTYPE, RR, A, DNSRecord

from c66d.dns import DNS_TABLE
from c66d.events import EventBus
from c66d.keys import EVENTS

_HEADER = re.compile(r"status: (\w+), id: (\d+)")
_FLAGS = re.compile(r";; flags: ([\w ]*);.*ANSWER: (\d+), AUTHORITY: (\d+), ADDITIONAL: (\d+)")


@dataclass
class Dig:
    """What `dig` printed, split up."""

    text: str
    status: str = ""
    flags: set[str] = field(default_factory=set)
    counts: tuple[int, int, int] = (0, 0, 0)
    question: list[str] = field(default_factory=list)
    answer: list[list[str]] = field(default_factory=list)  # [name, ttl, class, type, data...]
    authority: list[list[str]] = field(default_factory=list)
    additional: list[list[str]] = field(default_factory=list)
    edns: str = ""

    def data(self, rtype: str | None = None) -> list[str]:
        """The rdata of the answer records (of one type)."""
        return [" ".join(r[4:]) for r in self.answer if rtype is None or r[3] == rtype]


def parse_dig(text: str) -> Dig:
    out = Dig(text)
    section: list[list[str]] | None = None
    for line in text.splitlines():
        if m := _HEADER.search(line):
            out.status = m.group(1)
        elif m := _FLAGS.search(line):
            out.flags = set(m.group(1).split())
            out.counts = (int(m.group(2)), int(m.group(3)), int(m.group(4)))
        elif line.startswith("; EDNS:"):
            out.edns = line
        elif line.startswith(";; QUESTION SECTION"):
            section = None
            out.question = []
        elif line.startswith(";; ANSWER SECTION"):
            section = out.answer
        elif line.startswith(";; AUTHORITY SECTION"):
            section = out.authority
        elif line.startswith(";; ADDITIONAL SECTION"):
            section = out.additional
        elif not line.strip():
            section = None
        elif line.startswith(";") and not line.startswith(";;") and not out.question:
            out.question = line[1:].split()
        elif section is not None and not line.startswith(";"):
            section.append(line.split())
    return out


async def dig(port: int, name: str, rtype: str = "A", *options: str,
              source: str | None = None) -> Dig:
    """Run the real dig against 127.0.0.1:port (one try, 3 s)."""
    binary = shutil.which("dig")
    if binary is None:
        pytest.fail("dig is not installed (Debian package dnsutils); run scripts/install")
    args = [binary, "@127.0.0.1", "-p", str(port), "+tries=1", "+time=3", *options]
    if source:
        args += ["-b", source]
    proc = await asyncio.create_subprocess_exec(
        *args, name, rtype, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=20)
    return parse_dig(out.decode())


def container(cid: str, stack: str = "shop", service: str = "web", *, address: str,
              server: str = "s1", version: int = 1,
              ports: list[int] | None = None) -> dict[str, Any]:
    """The data of a container.* event, as the orchestrator publishes it."""
    return {"id": cid, "name": f"{stack}-{service}-{cid}", "stack": stack, "service": service,
            "server": server, "address": address, "version": version,
            "ports": [{"container": p, "protocol": "tcp"} for p in ports or []]}


async def publish(app: web.Application, kind: str, data: dict[str, Any]) -> None:
    """Publish an event and wait (bounded) until the DNS table shows it."""
    bus: EventBus = app[EVENTS]
    bus.publish(kind, **data)
    table = app[DNS_TABLE]
    present = kind == "container.healthy"
    for _ in range(200):
        if kind.startswith("server."):
            await asyncio.sleep(0.01)
            if (data["server"] in table.state.servers) == (kind != "server.removed"):
                return
        elif (data["id"] in table.state.containers) == present:
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"the DNS table did not take {kind} {data}")


class StubUpstream(asyncio.DatagramProtocol):
    """A tiny upstream resolver on loopback: every A question gets 192.0.2.1."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.asked: list[str] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        request = DNSRecord.parse(data)
        self.asked.append(str(request.q.qname))
        reply = request.reply()
        if request.q.qtype == QTYPE.A:
            reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A("192.0.2.1"), ttl=60))
        assert self.transport is not None
        self.transport.sendto(reply.pack(), addr)


async def start_stub_upstream() -> tuple[asyncio.DatagramTransport, StubUpstream, int]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        StubUpstream, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    return transport, protocol, port
