"""What the DNS server answers (pure: packet in, packet out)."""

from __future__ import annotations

from dnslib import QTYPE, RCODE, RR, SOA, DNSError, DNSRecord


class Resolver:
    """Answers for the zone; names outside it are refused until forwarding is configured."""

    def __init__(self, zone: str, ttl: int) -> None:
        self.zone = zone.strip(".").lower()
        self.ttl = ttl

    def _soa(self) -> RR:
        return RR(
            self.zone + ".", QTYPE.SOA, ttl=self.ttl,
            rdata=SOA(f"ns.{self.zone}.", f"hostmaster.{self.zone}.",
                      (1, 3600, 600, 86400, self.ttl)),
        )

    def in_zone(self, name: str) -> bool:
        name = name.rstrip(".").lower()
        return name == self.zone or name.endswith("." + self.zone)

    def answer(self, packet: bytes, caller: str, tcp: bool) -> bytes | None:
        try:
            request = DNSRecord.parse(packet)
        except (DNSError, IndexError, ValueError):
            return _formerr(packet)
        reply = request.reply()
        if not request.questions:
            reply.header.rcode = RCODE.FORMERR
            return bytes(reply.pack())
        question = request.q
        name = str(question.qname)
        if not self.in_zone(name):
            reply.header.rcode = RCODE.REFUSED
            reply.header.ra = 0
            return bytes(reply.pack())
        if name.rstrip(".").lower() == self.zone and question.qtype == QTYPE.SOA:
            reply.add_answer(self._soa())
        elif name.rstrip(".").lower() != self.zone:
            reply.header.rcode = RCODE.NXDOMAIN
            reply.add_auth(self._soa())
        else:
            reply.add_auth(self._soa())
        reply.header.aa = 1
        return bytes(reply.pack())


def _formerr(packet: bytes) -> bytes | None:
    """A FORMERR echoing the id when there is one; nothing when even the header is missing."""
    if len(packet) < 12:
        return None
    header = bytearray(packet[:12])
    header[2] = 0x80 | (header[2] & 0x78)  # QR, keep opcode
    header[3] = RCODE.FORMERR
    header[4:12] = b"\x00" * 8
    return bytes(header)
