"""What the DNS table holds: containers, servers, behaviours, databases (plain data)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

LOAD_BALANCING = ("roundrobin", "sticky", "closest")
DNS_BEHAVIOURS = ("non-versioned", "versioned")

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class Port:
    container: int
    protocol: str = "tcp"


@dataclass(frozen=True)
class ContainerRecord:
    """One healthy container as DNS sees it (the data of a `container.healthy` event)."""

    id: str
    name: str
    stack: str
    service: str
    server: str
    address: str
    version: int = 0
    ports: tuple[Port, ...] = ()

    @property
    def label(self) -> str:
        """The container's own DNS label, from its name."""
        return dns_label(self.name or self.id)

    @classmethod
    def from_event(cls, data: Mapping[str, Any]) -> ContainerRecord:
        """From a container.* event's data; raises ValueError when it cannot be served."""
        ports = tuple(
            Port(int(p["container"]), str(p.get("protocol", "tcp")).lower())
            for p in data.get("ports") or ()
        )
        rec = cls(
            id=str(data["id"]), name=str(data.get("name") or data["id"]),
            stack=str(data["stack"]).lower(), service=str(data["service"]).lower(),
            server=str(data.get("server") or ""), address=str(data.get("address") or ""),
            version=int(data.get("version") or 0), ports=ports,
        )
        rec.check()
        return rec

    def check(self) -> None:
        ipaddress.ip_address(self.address)
        for part in (self.stack, self.service):
            if not _LABEL.match(part):
                raise ValueError(f"{part!r} is not a DNS label")
        for port in self.ports:
            if not 0 < port.container < 65536 or port.protocol not in ("tcp", "udp"):
                raise ValueError(f"bad port {port}")


@dataclass(frozen=True)
class Behaviour:
    """How a service's answers are shaped (`load_balancing`, `dns_behaviour` in service.yml)."""

    load_balancing: str = "roundrobin"
    dns_behaviour: str = "non-versioned"

    def __post_init__(self) -> None:
        if self.load_balancing not in LOAD_BALANCING:
            raise ValueError(f"load_balancing must be one of {LOAD_BALANCING}")
        if self.dns_behaviour not in DNS_BEHAVIOURS:
            raise ValueError(f"dns_behaviour must be one of {DNS_BEHAVIOURS}")

    @property
    def plain(self) -> bool:
        """Answers do not depend on who asks."""
        return self.load_balancing == "roundrobin" and self.dns_behaviour == "non-versioned"


DEFAULT_BEHAVIOUR = Behaviour()


@dataclass(frozen=True)
class Caller:
    """Who asked, known by source address: a container (with its version) or a server."""

    server: str
    stack: str = ""
    version: int | None = None


@dataclass
class TableState:
    """Everything the zone is compiled from."""

    zone: str
    ttl: int
    cluster_range: str
    containers: dict[str, ContainerRecord] = field(default_factory=dict)
    servers: dict[str, str] = field(default_factory=dict)  # name -> address
    behaviours: dict[tuple[str, str], Behaviour] = field(default_factory=dict)
    databases: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)


def dns_label(text: str) -> str:
    """A name made fit for one DNS label: lower case, letters, digits and dashes."""
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:63].strip("-")
    return label or "x"


def is_label(text: str) -> bool:
    return bool(_LABEL.match(text))
