"""In-process event bus: publishers never wait; a slow subscriber loses its oldest events."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    id: int
    kind: str  # e.g. "build.finished", "container.started", "server.down"
    data: dict[str, Any]
    at: float = field(default_factory=time.time)

    def topic(self) -> str:
        return self.kind.split(".", 1)[0]


class Subscription:
    """A bounded queue of events for one subscriber."""

    def __init__(self, bus: EventBus, prefixes: tuple[str, ...], maxsize: int) -> None:
        self._bus = bus
        self._prefixes = prefixes
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        self.dropped = 0

    def wants(self, event: Event) -> bool:
        return not self._prefixes or event.kind.startswith(self._prefixes)

    def offer(self, event: Event) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)

    async def get(self) -> Event:
        return await self.queue.get()

    def close(self) -> None:
        self._bus.unsubscribe(self)

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            yield await self.queue.get()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    """Publish/subscribe by kind prefix, with a small replay buffer for late joiners."""

    def __init__(self, history: int = 200) -> None:
        self._subs: set[Subscription] = set()
        self._ids = itertools.count(1)
        self._history: list[Event] = []
        self._history_size = history

    def publish(self, kind: str, **data: Any) -> Event:
        event = Event(next(self._ids), kind, data)
        self._history.append(event)
        if len(self._history) > self._history_size:
            del self._history[0]
        for sub in list(self._subs):
            if sub.wants(event):
                sub.offer(event)
        return event

    def subscribe(self, prefixes: Iterable[str] = (), maxsize: int = 1000) -> Subscription:
        sub = Subscription(self, tuple(prefixes), maxsize)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def recent(self, limit: int = 50) -> list[Event]:
        return self._history[-limit:]
