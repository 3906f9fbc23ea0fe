"""Placement and rollout plans: pure functions from desired and actual state to actions."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Running:
    """A container c66d runs now, as far as planning cares."""

    id: str
    server: str
    config_hash: str


@dataclass(frozen=True)
class ServerSlot:
    name: str
    memory: int | None = None  # bytes free for containers, when known


@dataclass(frozen=True)
class ServicePlan:
    service: str
    keep: tuple[str, ...] = ()
    start: tuple[str, ...] = ()  # one server name per new container
    stop: tuple[str, ...] = ()  # container ids, drained after the new ones are healthy

    @property
    def changes(self) -> bool:
        return bool(self.start or self.stop)


@dataclass(frozen=True)
class Placement:
    per_server: dict[str, int] = field(default_factory=dict)
    unplaced: int = 0


def eligible(servers: list[ServerSlot], allowed: tuple[str, ...],
             memory_each: int | None) -> list[ServerSlot]:
    """Servers a service may use: named by constraints.servers (all when empty) with room."""
    chosen = [s for s in servers if not allowed or s.name in allowed]
    if memory_each:
        chosen = [s for s in chosen if s.memory is None or s.memory >= memory_each]
    return chosen


def spread(count: int, servers: list[ServerSlot], current: Counter[str],
           memory_each: int | None = None) -> Placement:
    """`count` containers spread evenly; ties go to servers already running more (fewer moves),
    then by name. A server's memory bounds how many it takes."""
    if not servers:
        return Placement({}, count)
    capacity = {
        s.name: (s.memory // memory_each if memory_each and s.memory is not None else count)
        for s in servers
    }
    order = sorted(servers, key=lambda s: (-current.get(s.name, 0), s.name))
    rank = {s.name: i for i, s in enumerate(order)}
    placed = dict.fromkeys(rank, 0)
    remaining = count
    while remaining:
        open_servers = [n for n in rank if placed[n] < capacity[n]]
        if not open_servers:
            break
        target = min(open_servers, key=lambda n: (placed[n], rank[n]))
        placed[target] += 1
        remaining -= 1
    return Placement({k: v for k, v in placed.items() if v}, remaining)


def plan_service(service: str, count: int, config_hash: str, servers: list[ServerSlot],
                 running: list[Running], *, restart: bool = True,
                 memory_each: int | None = None) -> tuple[ServicePlan, int]:
    """What to keep, start and stop so `count` containers of `config_hash` run; returns the
    plan and how many containers found no server."""
    if not restart and running:
        config_hash = running[0].config_hash  # restart_on_deploy: false keeps what runs
    matching = [c for c in running if c.config_hash == config_hash]
    current = Counter(c.server for c in matching)
    placement = spread(count, servers, current, memory_each)
    keep: list[str] = []
    start: list[str] = []
    stop = [c.id for c in running if c.config_hash != config_hash]
    for server in sorted({s.name for s in servers} | set(current)):
        wanted = placement.per_server.get(server, 0)
        here = [c.id for c in matching if c.server == server]
        keep += here[:wanted]
        stop += here[wanted:]
        start += [server] * max(0, wanted - len(here))
    return ServicePlan(service, tuple(keep), tuple(start), tuple(stop)), placement.unplaced
