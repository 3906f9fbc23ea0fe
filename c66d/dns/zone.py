"""The zone as ready replies: every (name, type) -> the bytes after the question, kept up to date
name by name as sources (containers, servers, databases, apexes) come and go."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from c66d.dns import sources, wire
from c66d.dns.records import DEFAULT_BEHAVIOUR, Behaviour, Caller, ContainerRecord, TableState
from c66d.dns.sources import Contribution, Rec, Shape, SourceKey, reverse_apexes

__all__ = ["Entry", "Zone", "compile_zone", "reverse_apexes"]


@dataclass
class Entry:
    """The precomputed reply to one (name, type): header flags and counts, then the records.

    `heads` and `lean_heads` are indexed by `RD | OPT << 1` (see wire.heads); `lean_*` leave out
    the additional section, for when the full reply does not fit the client's UDP size.
    """

    heads: tuple[bytes, ...]
    answer: bytes = b""
    offsets: tuple[int, ...] = (0,)
    tail: bytes = b""
    lean_heads: tuple[bytes, ...] = ()
    lean_tail: bytes = b""
    records: tuple[bytes, ...] = ()
    members: tuple[ContainerRecord, ...] = ()
    behaviour: Behaviour | None = None  # set for a service's names: answers rotate or are shaped
    turn: int = 0


class Zone:
    """Every reply c66d can give. `put`/`drop` a source's records, then `flush` rebuilds only
    the names they touched; the result is the same whatever order the changes came in."""

    def __init__(self, zone: str, ttl: int, cluster_range: str) -> None:
        self.zone, self.ttl, self.serial = zone, ttl, -1  # the first flush sets the SOAs
        self.entries: dict[bytes, Entry] = {}  # lowered wire name + 2-byte type
        self.names: dict[bytes, Entry] = {}  # every existing name -> NODATA
        self.apexes: dict[bytes, Entry] = {}  # each zone apex -> NXDOMAIN
        self.callers: dict[str, Caller] = {}
        self.rrsets: dict[str, list[Rec]] = {}
        self.records = 0
        self._own = [zone, *reverse_apexes(cluster_range)]
        self._apex_names: dict[bytes, str] = {}  # wire apex -> apex (own ones and lone PTRs)
        self._nodata: dict[str, Entry] = {}
        self._sources: dict[SourceKey, Contribution] = {}
        self._by_name: dict[str, dict[SourceKey, list[Rec]]] = {}
        self._shapes: dict[str, dict[SourceKey, Shape]] = {}
        self._caller_sources: dict[str, dict[SourceKey, Caller]] = {}
        self._built: dict[tuple[str, int], tuple[tuple[Rec, ...], Behaviour | None, Entry]] = {}
        self._types: dict[str, tuple[int, ...]] = {}
        self._refs: dict[bytes, int] = {}  # wire name -> names at or below it (for NODATA)
        self._dirty: set[str] = set()
        for apex in self._own:
            self._add_apex(apex)

    # --- sources -------------------------------------------------------------------------------

    def put(self, key: SourceKey, contribution: Contribution) -> None:
        """Serve this source's records (instead of what it had before)."""
        self.drop(key)
        self._sources[key] = contribution
        for name, recs in contribution.records.items():
            self._by_name.setdefault(name, {})[key] = recs
        for name, shape in contribution.shapes.items():
            self._shapes.setdefault(name, {})[key] = shape
        for address, caller in contribution.callers.items():
            self._caller_sources.setdefault(address, {})[key] = caller
            self._set_caller(address)
        self._dirty.update(contribution.records)

    def drop(self, key: SourceKey) -> None:
        contribution = self._sources.pop(key, None)
        if contribution is None:
            return
        for name in contribution.records:
            _discard(self._by_name, name, key)
        for name in contribution.shapes:
            _discard(self._shapes, name, key)
        for address in contribution.callers:
            _discard(self._caller_sources, address, key)
            self._set_caller(address)
        self._dirty.update(contribution.records)

    def touch(self, key: SourceKey) -> None:
        """Rebuild this source's names (their behaviour changed)."""
        contribution = self._sources.get(key)
        if contribution is not None:
            self._dirty.update(contribution.records)

    def flush(self, serial: int, behaviours: Mapping[Shape, Behaviour]) -> set[bytes]:
        """Rebuild the touched names (and the apexes when the serial moves); the wire names
        whose replies may have changed come back."""
        changed: set[bytes] = set()
        if serial != self.serial:
            self.serial = serial
            for apex in self._own:
                self.put(sources.apex_key(apex), sources.of_apex(apex, serial, self.ttl))
            for apex in self._apex_names.values():
                self._refresh_negatives(apex)
        dirty, self._dirty = self._dirty, set()
        for name in dirty:
            self._rebuild(name, behaviours, changed)
        return changed

    # --- names ---------------------------------------------------------------------------------

    def _rebuild(self, name: str, behaviours: Mapping[Shape, Behaviour],
                 changed: set[bytes]) -> None:
        by_source = self._by_name.get(name, {})
        order = sorted(by_source)
        recs = [rec for key in order for rec in by_source[key]]
        old = self.rrsets.get(name)
        wire_name = wire.encode_name(name)
        changed.update(self._suffixes_to_apex(wire_name))
        old_types = self._types.pop(name, ())
        for rtype in old_types:
            del self.entries[wire_name + rtype.to_bytes(2, "big")]
        if not recs:
            for rtype in old_types:
                self._built.pop((name, rtype), None)
            if old is not None:
                self._refer(wire_name, -1)
                self.records -= len(self.rrsets.pop(name))
                if wire_name in self._apex_names and name not in self._own:
                    self._remove_apex(name)
            return
        if old is None:
            if self._apex_of(wire_name) is None and any(r.rtype == wire.PTR for r in recs):
                self._add_apex(name)  # an address outside the cluster range: just this name
            self._refer(wire_name, 1)
        self.records += len(recs) - (len(old) if old is not None else 0)
        self.rrsets[name] = recs
        shapes = self._shapes.get(name)
        behaviour = None
        if shapes:
            behaviour = behaviours.get(shapes[min(shapes)], DEFAULT_BEHAVIOUR)
        by_type: dict[int, list[Rec]] = {}
        for rec in recs:
            by_type.setdefault(rec.rtype, []).append(rec)
        for rtype, group in by_type.items():
            self._place(name, wire_name, rtype, tuple(group), behaviour)
        self._place(name, wire_name, wire.ANY, tuple(recs), None)
        self._types[name] = (*by_type, wire.ANY)
        for rtype in old_types:
            if rtype not in self._types[name]:
                self._built.pop((name, rtype), None)

    def _place(self, name: str, wire_name: bytes, rtype: int, group: tuple[Rec, ...],
               behaviour: Behaviour | None) -> None:
        """The entry built last time when nothing in it changed (its turn carries on)."""
        before = self._built.get((name, rtype))
        if before is not None and before[0] == group and before[1] == behaviour:
            entry = before[2]
        else:
            entry = _entry(group, behaviour)
            self._built[(name, rtype)] = (group, behaviour, entry)
        self.entries[wire_name + rtype.to_bytes(2, "big")] = entry

    def _refer(self, wire_name: bytes, delta: int) -> None:
        """The name and the empty non-terminals above it exist (NODATA) while referred to."""
        apex = self._apex_of(wire_name)
        if apex is None:
            return
        nodata = self._nodata[apex]
        for suffix in self._suffixes_to_apex(wire_name):
            count = self._refs.get(suffix, 0) + delta
            if count > 0:
                self._refs[suffix] = count
                self.names[suffix] = nodata
            else:
                self._refs.pop(suffix, None)
                self.names.pop(suffix, None)

    def _suffixes_to_apex(self, wire_name: bytes) -> list[bytes]:
        """The name and the names above it up to its apex (or the root)."""
        out = []
        for suffix in wire.suffixes(wire_name):
            out.append(suffix)
            if suffix in self._apex_names:
                break
        return out

    def _apex_of(self, wire_name: bytes) -> str | None:
        for suffix in wire.suffixes(wire_name):
            found = self._apex_names.get(suffix)
            if found is not None:
                return found
        return None

    # --- apexes and callers ----------------------------------------------------------------

    def _add_apex(self, apex: str) -> None:
        self._apex_names[wire.encode_name(apex)] = apex
        self._nodata[apex] = Entry(())
        self.apexes[wire.encode_name(apex)] = Entry(())
        self._refresh_negatives(apex)

    def _remove_apex(self, apex: str) -> None:
        del self._apex_names[wire.encode_name(apex)]
        del self._nodata[apex]
        del self.apexes[wire.encode_name(apex)]

    def _refresh_negatives(self, apex: str) -> None:
        """NODATA and NXDOMAIN with the apex's SOA at the current serial (updated in place:
        every name under the apex shares them)."""
        soa = wire.record(wire.encode_name(apex), wire.SOA, self.ttl,
                          wire.soa_rdata(apex, self.serial, self.ttl))
        for entry, rcode in ((self._nodata[apex], wire.NOERROR),
                             (self.apexes[wire.encode_name(apex)], wire.NXDOMAIN)):
            heads = wire.heads(wire.QR | wire.AA | wire.RA | rcode, 0, 1, 0)
            entry.heads = entry.lean_heads = heads
            entry.tail = entry.lean_tail = soa

    def _set_caller(self, address: str) -> None:
        """A container at the address before a server (then the first by key): who asks."""
        found = self._caller_sources.get(address)
        if found:
            self.callers[address] = found[min(found)]
        else:
            self.callers.pop(address, None)

    def listing(self, ttl: int) -> list[dict[str, Any]]:
        """Every record served, for people (the API)."""
        return [_listed(name, rec, ttl) for name, recs in self.rrsets.items() for rec in recs]


def _discard(index: dict[str, dict[SourceKey, Any]], name: str, key: SourceKey) -> None:
    found = index.get(name)
    if found is not None:
        found.pop(key, None)
        if not found:
            del index[name]


def _entry(group: tuple[Rec, ...], behaviour: Behaviour | None) -> Entry:
    records = tuple(r.answer for r in group)
    extra = [r.additional for r in group if r.additional]
    offsets, at = [], 0
    for rec in records:
        offsets.append(at)
        at += len(rec)
    flags = wire.QR | wire.AA | wire.RA
    members = tuple(r.member for r in group if r.member is not None)
    return Entry(
        heads=wire.heads(flags, len(records), 0, len(extra)),
        answer=b"".join(records), offsets=tuple(offsets), tail=b"".join(extra),
        lean_heads=wire.heads(flags, len(records), 0, 0), records=records,
        members=members if len(members) == len(records) else (),
        behaviour=behaviour if len(records) > 1 else None,
    )


def state_sources(state: TableState) -> Iterable[tuple[SourceKey, Contribution]]:
    """Every source of a table's state with its records."""
    zone, ttl = state.zone, state.ttl
    for c in state.containers.values():
        yield sources.container_key(c), sources.of_container(c, zone, ttl)
    for server, address in state.servers.items():
        yield sources.server_key(server), sources.of_server(server, address, zone, ttl)
    for stack, databases in state.databases.items():
        for database, addresses in databases.items():
            yield (sources.database_key(stack, database),
                   sources.of_database(stack, database, addresses, zone, ttl))


def compile_zone(state: TableState, serial: int) -> Zone:
    """The whole zone from a table's state at once (what incremental changes must equal)."""
    zone = Zone(state.zone, state.ttl, state.cluster_range)
    for key, contribution in state_sources(state):
        zone.put(key, contribution)
    zone.flush(serial, state.behaviours)
    return zone


def _listed(name: str, rec: Rec, ttl: int) -> dict[str, Any]:
    item: dict[str, Any] = {"name": name + ".", "type": wire.TYPE_NAMES.get(rec.rtype),
                            "ttl": ttl, "data": rec.text}
    if rec.member is not None:
        item.update(stack=rec.member.stack, service=rec.member.service,
                    server=rec.member.server, container=rec.member.id,
                    version=rec.member.version)
    return item
