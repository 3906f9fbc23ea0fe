"""UDP and TCP listeners that hand each packet to a resolver function."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Callable, Coroutine
from typing import Any

from c66d.config import HostPort

log = logging.getLogger("c66d.dns")
IP_FREEBIND = 15  # linux/in.h; Python's socket module does not name it

# (packet, caller address, over TCP) -> reply bytes, None to answer nothing, or a coroutine
# giving either (names forwarded upstream)
Answer = Callable[[bytes, str, bool], bytes | Coroutine[Any, Any, bytes | None] | None]


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        try:
            reply = self.answer(data, addr[0], False)
        except Exception:  # a bug must cost one answer, not the listener
            log.exception("DNS answer failed")
            return
        if type(reply) is bytes:
            self.transport.sendto(reply, addr)  # type: ignore[union-attr]
        elif reply is not None and not isinstance(reply, bytes):
            task = asyncio.ensure_future(self._later(reply, addr))
            self.pending.add(task)
            task.add_done_callback(self.pending.discard)

    async def _later(self, reply: Coroutine[Any, Any, bytes | None], addr: tuple[Any, ...]) -> None:
        data = await reply
        if data is not None and self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(data, addr)


class DnsListeners:
    """Binds UDP and TCP on one port (port 0: the first port free for both)."""

    def __init__(self, where: HostPort, answer: Answer, *, freebind: bool = False) -> None:
        self.where = where
        self.freebind = freebind  # bind an address that is not (yet) on an interface
        self.answer = answer
        self.bound: HostPort | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._connections: set[asyncio.Task[Any]] = set()

    async def start(self) -> HostPort:
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in self.where.host else socket.AF_INET
        for _ in range(20):
            udp_sock = socket.socket(family, socket.SOCK_DGRAM)
            if self.freebind:
                udp_sock.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
            udp_sock.bind((self.where.host, self.where.port))
            port = udp_sock.getsockname()[1]
            tcp_sock = socket.socket(family, socket.SOCK_STREAM)
            tcp_sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if self.freebind:
                tcp_sock.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
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
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
            task.add_done_callback(self._connections.discard)
        peer = writer.get_extra_info("peername")
        caller = str(peer[0]) if peer else ""
        try:
            while True:
                header = await asyncio.wait_for(reader.readexactly(2), timeout=10)
                (length,) = struct.unpack("!H", header)
                packet = await asyncio.wait_for(reader.readexactly(length), timeout=10)
                answered = self.answer(packet, caller, True)
                reply = answered if not asyncio.iscoroutine(answered) else await answered
                if reply is None:
                    break
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass
        except Exception:  # a bug must cost one connection, not the listener
            log.exception("DNS answer over TCP failed")
        finally:
            writer.close()

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
            protocol = self._udp.get_protocol()
            if isinstance(protocol, _Udp):
                for task in list(protocol.pending):
                    task.cancel()
        if self._tcp is not None:
            self._tcp.close()
            for task in list(self._connections):
                task.cancel()
            await self._tcp.wait_closed()
