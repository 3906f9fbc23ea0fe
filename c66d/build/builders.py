"""Which engine runs a build: a server with the `builder` role, off the app servers when one is.

The local engine (server `local`, roles builder+app) builds by default. As soon as another
server with the `builder` role is up, builds go there instead, to the least busy one, so a build
cannot starve the containers on the c66d machine. A remote builder pushes to the registry
through its SSH reverse tunnel: the same `127.0.0.1:<port>` as on the c66d machine.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from c66d.build.errors import BuildFailed

LOCAL = "local"


@dataclass(frozen=True)
class Candidate:
    name: str
    roles: tuple[str, ...]
    up: bool


@dataclass(frozen=True)
class Builder:
    server: str
    docker_url: str


BuilderPicker = Callable[[Mapping[str, int]], Awaitable[Builder]]


def choose_builder(candidates: list[Candidate], busy: Mapping[str, int]) -> str | None:
    """The server to build on, or None when no builder is up (pure).

    Dedicated builders (any builder but `local`) first, least busy, then by name; `local` only
    when no other builder is up."""
    ready = [c for c in candidates if c.up and "builder" in c.roles]
    remote = [c for c in ready if c.name != LOCAL]
    pool = remote or [c for c in ready if c.name == LOCAL]
    if not pool:
        return None
    return min(pool, key=lambda c: (busy.get(c.name, 0), c.name)).name


def no_builder(candidates: list[Candidate]) -> BuildFailed:
    builders = [c for c in candidates if "builder" in c.roles]
    if not builders:
        return BuildFailed("no server has the builder role; add it to one (servers roles)")
    down = ", ".join(sorted(c.name for c in builders))
    return BuildFailed(f"no builder server is up (builders: {down})")


def fixed_builder(docker_url: str) -> BuilderPicker:
    """Always the one engine at `docker_url` (when no orchestrator manages servers)."""
    async def pick(busy: Mapping[str, int]) -> Builder:
        return Builder(LOCAL, docker_url)

    return pick
