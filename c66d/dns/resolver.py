"""Answer one packet: parse the question by hand, look up the ready reply, patch id and question.

The hot path touches only bytes: no parsing library, no record objects, no reply built per query.
Anything unusual (compressed question, extra sections, several OPT records) goes through dnslib
once, is rewritten as a plain query and comes back through the hot path.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Coroutine
from typing import Any

from dnslib import DNSError, DNSRecord

from c66d.dns import wire
from c66d.dns.behaviour import StickyBook, arrange
from c66d.dns.forward import Forwarder
from c66d.dns.table import DnsTable
from c66d.dns.zone import Entry, Zone

Reply = bytes | None | Coroutine[Any, Any, bytes | None]

_ONE_QUESTION = b"\x00\x01\x00\x00\x00\x00"
_CLASS_IN = b"\x00\x01"
_OPT_HEAD = b"\x00\x00\x29"  # root owner, type OPT
_BADVERS_OPT = wire.opt_record(extended_rcode=wire.BADVERS)


class Resolver:
    """Packet in, packet out (or a coroutine for names forwarded upstream)."""

    def __init__(self, table: DnsTable, forwarder: Forwarder | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.table = table
        self.forwarder = forwarder
        self.sticky = StickyBook()
        self.clock = clock

    def answer(self, packet: bytes, caller: str, tcp: bool) -> Reply:
        """The reply to `packet` from `caller`; None only for packets that are not queries."""
        replies = self.table.replies
        if not tcp:
            known = replies.get(packet[2:])
            if known is not None:
                return packet[:2] + known
        size = len(packet)
        if size < 17 or packet[2] & 0xF8 or packet[4:10] != _ONE_QUESTION:
            return self._unusual(packet, caller, tcp)
        end = 12
        try:
            length = packet[end]
            while length:
                if length > 63:
                    return self._unusual(packet, caller, tcp)
                end += length + 1
                length = packet[end]
        except IndexError:
            return _formerr(packet)
        qend = end + 5
        if qend > size:
            return _formerr(packet)
        question = packet[12:qend]
        opt = b""
        limit = 65535 if tcp else 512
        if qend != size or packet[10:12] != b"\x00\x00":
            edns = _edns(packet, qend, size, tcp)
            if not isinstance(edns, tuple):
                return edns if edns is not None else self._unusual(packet, caller, tcp)
            opt, limit = edns
        if packet[end + 3:qend] != _CLASS_IN:
            return wire.bare_reply(packet[:4], question, wire.REFUSED, opt=opt)
        key = packet[12:end + 1].lower() + packet[end + 1:end + 3]
        zone = self.table.zone
        entry = zone.entries.get(key)
        negative = entry is None
        if entry is None:
            entry = zone.names.get(key[:-2]) or _nxdomain(zone, key[:-2])
            if entry is None:
                return self._forward(packet, question, opt, tcp, limit)
        reply = self._reply(entry, zone, key, packet, question, opt, limit, caller)
        if entry.behaviour is None and not tcp:  # the same for everyone: keep it whole
            self.table.cache.put(key[:-2], packet[2:], reply[2:], negative)
        return reply

    def _reply(self, entry: Entry, zone: Zone, key: bytes, packet: bytes, question: bytes,
               opt: bytes, limit: int, caller: str) -> bytes:
        """The ready records after the query's id and question, rotated or shaped."""
        if entry.behaviour is None:
            answer = entry.answer
            heads = entry.heads
        elif entry.behaviour.plain:
            entry.turn += 1
            cut = entry.offsets[entry.turn % len(entry.offsets)]
            answer = entry.answer[cut:] + entry.answer[:cut]
            heads = entry.heads
        else:
            answer, heads = self._shaped(entry, zone, key, caller)
        rd_opt = (packet[2] & 1) | (2 if opt else 0)
        reply = b"".join((packet[:2], heads[rd_opt], question, answer, entry.tail, opt))
        if len(reply) > limit:
            return _fitted(entry, packet, heads, question, answer, opt, limit)
        return reply

    def _shaped(self, entry: Entry, zone: Zone, key: bytes,
                caller: str) -> tuple[bytes, tuple[bytes, ...]]:
        """Sticky, closest or versioned answers: ordered (and filtered) for this caller."""
        assert entry.behaviour is not None
        now = self.clock()
        sticky = entry.behaviour.load_balancing == "sticky"
        chosen = self.sticky.get(key, caller, now) if sticky else None
        entry.turn += 1
        order, stuck = arrange(entry.members, entry.behaviour, zone.callers.get(caller),
                               entry.turn, chosen)
        if stuck is not None:
            self.sticky.put(key, caller, stuck, now)
        if len(order) == len(entry.records):
            return b"".join(entry.records[i] for i in order), entry.heads
        return b"".join(entry.records[i] for i in order), _recount(entry.heads, len(order))

    def _forward(self, packet: bytes, question: bytes, opt: bytes, tcp: bool,
                 limit: int) -> Reply:
        if self.forwarder is None or not self.forwarder.upstreams:
            return wire.bare_reply(packet[:4], question, wire.REFUSED, opt=opt)
        return self.forwarder.forward(packet, question, opt, tcp, limit)

    def _unusual(self, packet: bytes, caller: str, tcp: bool) -> Reply:
        """Everything the hot path does not take: drop non-queries, refuse other opcodes,
        rewrite odd but valid queries into plain ones, FORMERR the rest."""
        if len(packet) < 12 or packet[2] & 0x80:
            return None  # no header to answer, or a response: answering could loop
        if packet[2] & 0x78:
            return wire.bare_reply(packet[:4], b"", wire.NOTIMP)
        plain = _canonical(packet)
        if plain is None or plain == packet:
            return _formerr(packet)
        return self.answer(plain, caller, tcp)


def _edns(packet: bytes, qend: int, size: int, tcp: bool) -> tuple[bytes, int] | bytes | None:
    """What follows the question: (our OPT, UDP size limit) for one OPT record; an error reply
    (FORMERR, BADVERS); None for anything else (the slow path decides)."""
    if packet[10:12] == b"\x00\x00":
        return _formerr(packet)  # bytes after the question that no count announces
    if packet[10:12] != b"\x00\x01" or packet[qend:qend + 3] != _OPT_HEAD:
        return None
    if qend + 11 + (packet[qend + 9] << 8 | packet[qend + 10]) != size:
        return _formerr(packet)
    if packet[qend + 6]:  # an EDNS version we do not speak
        return wire.bare_reply(packet[:4], packet[12:qend], 0, opt=_BADVERS_OPT)
    opt = wire.OPT_DO if packet[qend + 7] & 0x80 else wire.OPT_PLAIN
    if tcp:
        return opt, 65535
    return opt, max(512, min(packet[qend + 3] << 8 | packet[qend + 4], wire.MAX_UDP_PAYLOAD))


def _fitted(entry: Entry, packet: bytes, heads: tuple[bytes, ...], question: bytes,
            answer: bytes, opt: bytes, limit: int) -> bytes:
    """A reply too big for the client's UDP size: without the additional section if that
    fits, else the question alone with TC set (the client asks again over TCP)."""
    rd_opt = (packet[2] & 1) | (2 if opt else 0)
    if entry.tail:
        lean = entry.lean_heads if heads is entry.heads else _without_additional(heads)
        reply = b"".join((packet[:2], lean[rd_opt], question, answer, entry.lean_tail, opt))
        if len(reply) <= limit:
            return reply
    return wire.bare_reply(packet[:4], question, 0, opt=opt, truncated=True, aa=True)


def _nxdomain(zone: Zone, name: bytes) -> Entry | None:
    """NXDOMAIN from the zone the name falls in, or None: not ours, forward it."""
    for suffix in wire.suffixes(name):
        found = zone.apexes.get(suffix)
        if found is not None:
            return found
    return None


def _recount(heads: tuple[bytes, ...], answers: int) -> tuple[bytes, ...]:
    """The same headers with another answer count."""
    return tuple(h[:4] + answers.to_bytes(2, "big") + h[6:] for h in heads)


def _without_additional(heads: tuple[bytes, ...]) -> tuple[bytes, ...]:
    """The same headers with only the OPT record (if any) left in the additional section."""
    return tuple(h[:8] + (i >> 1).to_bytes(2, "big") for i, h in enumerate(heads))


def _canonical(packet: bytes) -> bytes | None:
    """A valid but odd query rewritten plainly (one question, uncompressed, OPT only);
    None when it is malformed."""
    try:
        request = DNSRecord.parse(packet)
    except (DNSError, IndexError, ValueError, struct.error, UnicodeError):
        return None
    opts = [rr for rr in request.ar if rr.rtype == wire.OPT]
    if len(request.questions) != 1 or request.rr or request.auth or len(opts) > 1:
        return None
    q = request.q
    labels = q.qname.label
    if any(not 0 < len(label) < 64 for label in labels):
        return None
    name = b"".join(bytes([len(label)]) + label for label in labels) + b"\x00"
    out = packet[:4] + _ONE_QUESTION + (b"\x00\x01" if opts else b"\x00\x00")
    out += name + struct.pack("!HH", q.qtype, q.qclass)
    if opts:
        out += b"\x00" + struct.pack("!HHIH", wire.OPT, opts[0].rclass, opts[0].ttl, 0)
    return out


def _formerr(packet: bytes) -> bytes | None:
    """A FORMERR echoing the id when there is one; nothing when even the header is missing."""
    if len(packet) < 12:
        return None
    header = bytearray(packet[:12])
    header[2] = 0x80 | (header[2] & 0x79)  # QR; keep opcode and RD
    header[3] = wire.RA | wire.FORMERR
    header[4:12] = b"\x00" * 8
    return bytes(header)
