"""UDP and TCP listeners that hand each packet to a resolver function."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Callable

from c66d.config import HostPort

log = logging.getLogger("c66d.dns")

# (packet, caller address, over TCP) -> reply bytes, or None to answer nothing
Answer = Callable[[bytes, str, bool], bytes | None]


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        reply = self.answer(data, str(addr[0]), False)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


class DnsListeners:
    """Binds UDP and TCP on one port (port 0: the first port free for both)."""

    def __init__(self, where: HostPort, answer: Answer) -> None:
        self.where = where
        self.answer = answer
        self.bound: HostPort | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None

    async def start(self) -> HostPort:
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in self.where.host else socket.AF_INET
        for _ in range(20):
            udp_sock = socket.socket(family, socket.SOCK_DGRAM)
            udp_sock.bind((self.where.host, self.where.port))
            port = udp_sock.getsockname()[1]
            tcp_sock = socket.socket(family, socket.SOCK_STREAM)
            tcp_sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tcp_sock.bind((self.where.host, port))
                tcp_sock.listen(128)
            except OSError:
                udp_sock.close()
                tcp_sock.close()
                if self.where.port:
                    raise
                continue
            break
        else:
            raise OSError("no port free for both UDP and TCP DNS")
        udp_sock.setblocking(False)
        tcp_sock.setblocking(False)
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Udp(self.answer), sock=udp_sock
        )
        self._udp = transport
        self._tcp = await asyncio.start_server(self._serve_tcp, sock=tcp_sock)
        self.bound = HostPort(self.where.host, port)
        return self.bound

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        caller = str(peer[0]) if peer else ""
        try:
            while True:
                header = await asyncio.wait_for(reader.readexactly(2), timeout=10)
                (length,) = struct.unpack("!H", header)
                packet = await asyncio.wait_for(reader.readexactly(length), timeout=10)
                reply = self.answer(packet, caller, True)
                if reply is None:
                    break
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()
