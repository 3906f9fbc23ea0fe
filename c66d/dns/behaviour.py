"""Who gets which answer first: roundrobin, sticky, closest, versioned (pure functions)."""

from __future__ import annotations

from collections.abc import Sequence

from c66d.dns.records import Behaviour, Caller, ContainerRecord

STICKY_SECONDS = 60.0
STICKY_MOST = 100_000  # callers remembered at once; expired ones are forgotten past this


def candidates(members: Sequence[ContainerRecord], behaviour: Behaviour,
               caller: Caller | None) -> list[int]:
    """Versioned: a caller in the same stack gets the containers of its own version when
    there are any (during a rollout); everyone else, and non-versioned services, get all."""
    everyone = list(range(len(members)))
    if behaviour.dns_behaviour != "versioned" or caller is None or caller.version is None:
        return everyone
    own = [i for i in everyone
           if members[i].stack == caller.stack and members[i].version == caller.version]
    return own or everyone


def rotated(indices: Sequence[int], turn: int) -> list[int]:
    """Round robin: each turn starts one further along."""
    if not indices:
        return []
    k = turn % len(indices)
    return [*indices[k:], *indices[:k]]


def closest_first(indices: Sequence[int], members: Sequence[ContainerRecord],
                  caller: Caller | None, turn: int) -> list[int]:
    """Containers on the caller's own server first, each group rotated."""
    server = caller.server if caller else None
    near = [i for i in indices if server and members[i].server == server]
    far = [i for i in indices if i not in near]
    return rotated(near, turn) + rotated(far, turn)


def chosen_first(indices: Sequence[int], members: Sequence[ContainerRecord],
                 chosen: str) -> list[int] | None:
    """The chosen container first, the rest in a stable order; None when it is gone."""
    for i in indices:
        if members[i].id == chosen:
            return [i, *(j for j in indices if j != i)]
    return None


def arrange(members: Sequence[ContainerRecord], behaviour: Behaviour, caller: Caller | None,
            turn: int, sticky: str | None = None) -> tuple[list[int], str | None]:
    """The order of a service's records for one caller, and the container it sticks to."""
    indices = candidates(members, behaviour, caller)
    if behaviour.load_balancing == "closest":
        return closest_first(indices, members, caller, turn), None
    if behaviour.load_balancing == "sticky":
        if sticky is not None and (order := chosen_first(indices, members, sticky)):
            return order, sticky
        pick = members[rotated(indices, turn)[0]].id
        return chosen_first(indices, members, pick) or indices, pick
    return rotated(indices, turn), None


class StickyBook:
    """Which container each caller was given for each name, for STICKY_SECONDS."""

    def __init__(self) -> None:
        self._book: dict[tuple[bytes, str], tuple[str, float]] = {}

    def get(self, name: bytes, caller: str, now: float) -> str | None:
        found = self._book.get((name, caller))
        return found[0] if found and found[1] > now else None

    def put(self, name: bytes, caller: str, chosen: str, now: float) -> None:
        key = (name, caller)
        if key in self._book and self._book[key][0] == chosen and self._book[key][1] > now:
            return  # keep the first expiry: about a minute, not forever while asked
        if len(self._book) >= STICKY_MOST:
            self._book = {k: v for k, v in self._book.items() if v[1] > now}
        self._book[key] = (chosen, now + STICKY_SECONDS)

    def __len__(self) -> int:
        return len(self._book)
