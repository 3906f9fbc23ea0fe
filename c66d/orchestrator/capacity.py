"""How much memory each server has left for a service's containers (for the planner).

The engine's `MemTotal` minus the memory limits of the containers c66d runs there for other
services (the service being planned is re-placed as a whole, so its own do not count).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import aiodocker

from c66d.errors import Unavailable
from c66d.logs import get_logger
from c66d.orchestrator.containers import LABEL, MANAGED
from c66d.orchestrator.plan import ServerSlot
from c66d.orchestrator.reach import Reach

log = get_logger("c66d.capacity")


def free_memory(total: int, reserved: Iterable[int]) -> int:
    """Bytes left once limits are reserved (never below zero; pure)."""
    return max(0, total - sum(reserved))


def reserved_by_others(containers: Iterable[dict[str, Any]], stack: str,
                       service: str) -> list[int]:
    """Memory limits of running c66d containers of other services (inspect results; pure)."""
    out = []
    for info in containers:
        labels = (info.get("Config") or {}).get("Labels") or {}
        if labels.get(f"{LABEL}.stack") == stack and labels.get(f"{LABEL}.service") == service:
            continue
        if not (info.get("State") or {}).get("Running"):
            continue
        limit = int((info.get("HostConfig") or {}).get("Memory") or 0)
        if limit > 0:
            out.append(limit)
    return out


async def memory_left(docker: aiodocker.Docker, stack: str, service: str) -> int:
    total = int((await docker.system.info()).get("MemTotal") or 0)
    found = await docker.containers.list(filters={"label": [f"{MANAGED}=true"]})
    infos = [await c.show() for c in found]
    return free_memory(total, reserved_by_others(infos, stack, service))


async def with_memory(reach: Reach, slots: list[ServerSlot], stack: str,
                      service: str) -> list[ServerSlot]:
    """The slots with their memory left filled in; a server whose engine does not answer
    keeps `None` (unknown), as before."""
    out = []
    for slot in slots:
        try:
            memory: int | None = await memory_left(reach.docker(slot.name), stack, service)
        except (aiodocker.DockerError, Unavailable, OSError) as exc:
            log.warning("memory of server %s unknown: %s", slot.name, exc)
            memory = None
        out.append(ServerSlot(slot.name, memory))
    return out
