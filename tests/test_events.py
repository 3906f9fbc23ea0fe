from __future__ import annotations

import asyncio

from c66d.events import EventBus


async def test_subscribers_get_what_they_asked_for() -> None:
    bus = EventBus()
    builds = bus.subscribe(["build."])
    everything = bus.subscribe()
    bus.publish("build.finished", build=1)
    bus.publish("server.down", server="a")
    event = await asyncio.wait_for(builds.get(), 1)
    assert (event.kind, event.data) == ("build.finished", {"build": 1})
    assert builds.queue.empty()
    assert everything.queue.qsize() == 2


async def test_a_slow_subscriber_never_blocks_a_publisher() -> None:
    bus = EventBus()
    slow = bus.subscribe(maxsize=10)
    for i in range(1000):
        bus.publish("container.started", n=i)  # returns at once although nobody reads
    assert slow.dropped == 990
    assert (await slow.get()).data == {"n": 990}  # the newest ten are kept


async def test_unsubscribe_stops_delivery() -> None:
    bus = EventBus()
    with bus.subscribe() as sub:
        bus.publish("a.b")
    bus.publish("a.c")
    assert sub.queue.qsize() == 1
    assert [e.kind for e in bus.recent()] == ["a.b", "a.c"]
