"""Run one step of a rollout on several servers: all at once (bounded) or one after another."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

PARALLEL_SERVERS = 8  # servers a rollout works on at the same time


async def across(items: Iterable[T], work: Callable[[T], Awaitable[R]], *, serial: bool = False,
                 limit: int = PARALLEL_SERVERS) -> list[R]:
    """`work(item)` for each item, at most `limit` at a time (one at a time when `serial`).

    Results come back in the items' order. Every started item finishes (or fails) before the
    first failure is raised, so the caller can clean up after a complete picture; serially,
    the first failure stops the items after it."""
    todo = list(items)
    if serial or len(todo) <= 1:
        return [await work(item) for item in todo]
    gate = asyncio.Semaphore(max(1, limit))

    async def one(item: T) -> R:
        async with gate:
            return await work(item)

    results = await asyncio.gather(*(one(item) for item in todo), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results  # type: ignore[return-value]


def by_server(servers: Iterable[str]) -> dict[str, list[int]]:
    """Positions of a plan's `start` entries (one server name per new container) per server,
    servers in name order."""
    grouped: dict[str, list[int]] = {}
    for position, server in enumerate(servers):
        grouped.setdefault(server, []).append(position)
    return dict(sorted(grouped.items()))
