"""Names outside c66d's zones go to upstream resolvers: UDP, TCP when truncated, with a timeout."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
import socket
import struct
from collections.abc import Sequence
from pathlib import Path

from c66d.config import HostPort
from c66d.dns import wire

log = logging.getLogger("c66d.dns.forward")

TIMEOUT = 2.0  # seconds per upstream
MOST_PENDING = 1000  # forwarded queries in flight; past this, SERVFAIL at once

Upstream = tuple[str, int]


def parse_upstream(text: str) -> Upstream:
    """`10.0.0.2`, `10.0.0.2:5353`, `fd00::1`, `[fd00::1]:53` -> (host, port)."""
    text = text.strip()
    host, port = text, 53
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else 53
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = int(port_text)
    ipaddress.ip_address(host.split("%")[0])
    if not 0 < port < 65536:
        raise ValueError(f"bad port in upstream {text!r}")
    return host, port


def resolv_conf_nameservers(text: str) -> list[str]:
    """The `nameserver` lines of a resolv.conf."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            out.append(parts[1])
    return out


def is_self(upstream: Upstream, bound: HostPort | None) -> bool:
    """Would this upstream be c66d's own DNS listener (a forwarding loop)?"""
    if bound is None or upstream[1] != bound.port:
        return False
    host = ipaddress.ip_address(upstream[0].split("%")[0])
    mine = ipaddress.ip_address(bound.host)
    if host == mine or (host.is_loopback and mine.is_loopback):
        return True
    return mine.is_unspecified and (host.is_loopback or is_local_address(str(host)))


def is_local_address(host: str) -> bool:
    """An address of this machine: binding to it works only then."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((host, 0))
        except OSError:
            return False
    return True


def choose_upstreams(configured: Sequence[str], resolv_conf: str,
                     bound: HostPort | None) -> list[Upstream]:
    """The setting's upstreams (`none`: no forwarding), else the host's; never ourselves."""
    if [c.lower() for c in configured] == ["none"]:
        return []
    texts = list(configured) or resolv_conf_nameservers(resolv_conf)
    out: list[Upstream] = []
    for text in texts:
        try:
            upstream = parse_upstream(text)
        except ValueError as exc:
            log.warning("upstream resolver %r ignored: %s", text, exc)
            continue
        if is_self(upstream, bound):
            log.warning("upstream resolver %s is c66d itself: ignored", text)
            continue
        out.append(upstream)
    return out


def host_resolv_conf(path: Path = Path("/etc/resolv.conf")) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


class _OneAnswer(asyncio.DatagramProtocol):
    def __init__(self, query_id: bytes, done: asyncio.Future[bytes]) -> None:
        self.query_id = query_id
        self.done = done

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        if data[:2] == self.query_id and len(data) >= 12 and not self.done.done():
            self.done.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(exc or ConnectionError("closed"))


class Forwarder:
    """Asks each upstream in turn; the first good reply wins, SERVFAIL when none gives one."""

    def __init__(self, upstreams: Sequence[Upstream], timeout: float = TIMEOUT) -> None:
        self.upstreams = list(upstreams)
        self.timeout = timeout
        self.pending = 0
        self.failures = 0

    async def forward(self, packet: bytes, question: bytes, opt: bytes, tcp: bool,
                      limit: int) -> bytes | None:
        if self.pending >= MOST_PENDING:
            return wire.bare_reply(packet[:4], question, wire.SERVFAIL, opt=opt)
        self.pending += 1
        try:
            for host, port in self.upstreams:
                try:
                    reply = await self._ask(host, port, packet, question, tcp)
                except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError) as exc:
                    log.debug("upstream %s:%s failed: %r", host, port, exc)
                    continue
                if len(reply) > limit:  # an upstream ignoring the client's size
                    return wire.bare_reply(packet[:4], question, 0, opt=opt, truncated=True)
                return packet[:2] + reply[2:]
            self.failures += 1
            return wire.bare_reply(packet[:4], question, wire.SERVFAIL, opt=opt)
        finally:
            self.pending -= 1

    async def _ask(self, host: str, port: int, packet: bytes, question: bytes,
                   tcp: bool) -> bytes:
        query_id = secrets.token_bytes(2)  # our own id: a spoofed reply must guess it
        query = query_id + packet[2:]
        reply = await asyncio.wait_for(self._udp(host, port, query), self.timeout)
        if reply[2] & 0x02 and tcp:  # truncated, and the client can take the whole answer
            reply = await asyncio.wait_for(self._tcp(host, port, query), self.timeout)
        if not reply[2] & 0x80 or reply[12:12 + len(question)].lower() != question.lower():
            raise ValueError("upstream reply does not match the question")
        return reply

    async def _udp(self, host: str, port: int, query: bytes) -> bytes:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bytes] = loop.create_future()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _OneAnswer(query[:2], done), remote_addr=(host, port))
        try:
            transport.sendto(query)
            return await done
        finally:
            transport.close()

    async def _tcp(self, host: str, port: int, query: bytes) -> bytes:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(struct.pack("!H", len(query)) + query)
            await writer.drain()
            (length,) = struct.unpack("!H", await reader.readexactly(2))
            reply = await reader.readexactly(length)
        finally:
            writer.close()
        if reply[:2] != query[:2]:
            raise ValueError("upstream TCP reply has another id")
        return reply
