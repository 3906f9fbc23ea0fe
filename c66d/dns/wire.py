"""DNS wire format, packed by hand so whole answers can be precomputed as bytes."""

from __future__ import annotations

import functools
import ipaddress
import struct

A, NS, SOA, PTR, AAAA, SRV, OPT, ANY = 1, 2, 6, 12, 28, 33, 41, 255
CLASS_IN = 1
TYPE_NAMES = {A: "A", NS: "NS", SOA: "SOA", PTR: "PTR", AAAA: "AAAA", SRV: "SRV"}

NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, BADVERS = 0, 1, 2, 3, 4, 5, 16

QR, AA, TC, RD, RA = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080

# Largest UDP reply c66d sends (the DNS flag day 2020 figure: no fragmentation on any overlay).
MAX_UDP_PAYLOAD = 1232
# The owner of every answer record: a compression pointer to the question name at offset 12.
QUESTION_NAME = b"\xc0\x0c"


@functools.lru_cache(maxsize=65536)
def encode_name(name: str) -> bytes:
    """`web.shop.c66.internal` -> length-prefixed labels ending in the root label."""
    out = bytearray()
    for label in name.strip(".").split("."):
        if label:
            raw = label.encode("ascii")
            if len(raw) > 63:
                raise ValueError(f"label longer than 63 bytes in {name!r}")
            out.append(len(raw))
            out += raw
    out.append(0)
    if len(out) > 255:
        raise ValueError(f"name longer than 255 bytes: {name!r}")
    return bytes(out)


def decode_name(wire: bytes) -> str:
    """The inverse of encode_name for uncompressed names (no trailing dot)."""
    labels, i = [], 0
    while wire[i]:
        labels.append(wire[i + 1:i + 1 + wire[i]].decode("ascii", "replace"))
        i += wire[i] + 1
    return ".".join(labels)


def suffixes(wire: bytes) -> list[bytes]:
    """Every name a wire name sits under, itself first, the root last."""
    out, i = [], 0
    while True:
        out.append(wire[i:])
        if not wire[i]:
            return out
        i += wire[i] + 1


def record(owner: bytes, rtype: int, ttl: int, rdata: bytes) -> bytes:
    return owner + struct.pack("!HHIH", rtype, CLASS_IN, ttl, len(rdata)) + rdata


@functools.lru_cache(maxsize=65536)
def address_rdata(address: str) -> tuple[int, bytes]:
    """(A or AAAA, packed address)."""
    ip = ipaddress.ip_address(address)
    return (A if ip.version == 4 else AAAA), ip.packed


@functools.lru_cache(maxsize=65536)
def reverse_name(address: str) -> str:
    """`10.66.1.2` -> `2.1.66.10.in-addr.arpa` (ip6.arpa for IPv6)."""
    return ipaddress.ip_address(address).reverse_pointer


def srv_rdata(port: int, target: str, priority: int = 0, weight: int = 10) -> bytes:
    return struct.pack("!HHH", priority, weight, port) + encode_name(target)


def soa_rdata(apex: str, serial: int, negative_ttl: int) -> bytes:
    return (encode_name("ns." + apex) + encode_name("hostmaster." + apex)
            + struct.pack("!IIIII", serial & 0xFFFFFFFF, 3600, 600, 86400, negative_ttl))


@functools.lru_cache(maxsize=4096)
def heads(flags: int, answers: int, authority: int, additional: int) -> tuple[bytes, ...]:
    """Header bytes 2..12 for (RD clear, no OPT), (RD, no OPT), (RD clear, OPT), (RD, OPT)."""
    return tuple(
        struct.pack("!HHHHH", flags | (RD if rd else 0), 1, answers, authority,
                    additional + opt)
        for opt in (0, 1) for rd in (0, 1)
    )


def opt_record(extended_rcode: int = 0, dnssec_ok: bool = False) -> bytes:
    """Our OPT pseudo-record: EDNS version 0, our UDP payload size, no options."""
    return b"\x00" + struct.pack("!HHBBHH", OPT, MAX_UDP_PAYLOAD, extended_rcode >> 4, 0,
                                 0x8000 if dnssec_ok else 0, 0)


OPT_PLAIN = opt_record()
OPT_DO = opt_record(dnssec_ok=True)


def bare_reply(query_head: bytes, question: bytes, rcode: int, *, opt: bytes = b"",
               truncated: bool = False, aa: bool = False) -> bytes:
    """A reply with the question and no records: errors, truncation, forwarding failures."""
    flags = QR | RA | (query_head[2] << 8 & 0x7900) | (rcode & 0x0F)  # keep opcode and RD
    if truncated:
        flags |= TC
    if aa:
        flags |= AA
    return (query_head[:2]
            + struct.pack("!HHHHH", flags, 1 if question else 0, 0, 0, 1 if opt else 0)
            + question + opt)
