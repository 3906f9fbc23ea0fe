"""`GET /api/v1/events`: the event bus as server-sent events, for the stacks the caller may read.

Query: `?kinds=build.,deployment.` (kind prefixes), `?stack=NAME` (one stack). A reconnecting
browser sends `Last-Event-ID`; events since then still in the bus's replay buffer come first.
A comment line every `HEARTBEAT` seconds keeps proxies from closing an idle stream. Streams end
when c66d shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from c66d import jsonio
from c66d.auth import allowed, identity_of, require
from c66d.auth.identity import Identity
from c66d.events import Event
from c66d.keys import EVENTS
from c66d.web.access import access
from c66d.web.openapi import doc

HEARTBEAT = 15.0
SSE_STOP = web.AppKey("sse_stop", asyncio.Event)


def visible(event: Event, identity: Identity | None, stack: str | None) -> bool:
    """Events naming a stack go to those who may read it; the rest to every signed-in user."""
    named = event.data.get("stack")
    if stack is not None and named != stack:
        return False
    if named is None:
        named = _registry_stack(event)
    return named is None or allowed(identity, "read", str(named))


def _registry_stack(event: Event) -> str | None:
    repository = event.data.get("repository")
    return str(repository).split("/")[0] if repository else None


def frame(event: Event) -> bytes:
    """One SSE message: `id`, `event` (the kind) and the data as one JSON line."""
    data = jsonio.dumps({"kind": event.kind, "at": event.at, **event.data})
    return f"id: {event.id}\nevent: {event.kind}\ndata: {data}\n\n".encode()


def _last_id(request: web.Request) -> int:
    raw = request.headers.get("Last-Event-ID") or request.query.get("last_id", "")
    return int(raw) if raw.isdigit() else 0


@access("user", stack_param=None)
@doc(events=True, query={"kinds": "comma-separated kind prefixes, e.g. deployment.,build.",
                         "stack": "only this stack's events",
                         "last_id": "resume after this event id (or Last-Event-ID)"})
async def events_stream(request: web.Request) -> web.StreamResponse:
    stack = request.query.get("stack") or None
    if stack is not None:
        require(request, "read", stack)
    kinds = tuple(k for k in request.query.get("kinds", "").split(",") if k)
    if request.method == "HEAD":  # headers only: a stream would write a body anyway
        return web.Response(content_type="text/event-stream")
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    with contextlib.suppress(ConnectionResetError):  # the browser left: nothing to tell
        await _pump(request, response, kinds, stack)
    return response


async def _pump(request: web.Request, response: web.StreamResponse, kinds: tuple[str, ...],
                stack: str | None) -> None:
    identity, bus = identity_of(request), request.app[EVENTS]
    await response.write(b"retry: 2000\n\n")
    last = _last_id(request)
    sub = bus.subscribe(kinds)
    with sub:
        backlog = [e for e in bus.recent(200) if e.id > last] if last else []
        for event in backlog:
            if sub.wants(event) and visible(event, identity, stack):
                await response.write(frame(event))
                last = event.id
        async for fresh in _until_stopped(request.app, sub.get):
            if fresh is None:
                await response.write(b": keep-alive\n\n")
            elif fresh.id > last and visible(fresh, identity, stack):
                await response.write(frame(fresh))


async def _until_stopped(app: web.Application, get: Callable[[], Awaitable[Event]]
                         ) -> AsyncIterator[Event | None]:
    """Events as they come, None after each quiet `HEARTBEAT`; ends when c66d stops."""
    stop = app[SSE_STOP]
    while not stop.is_set():
        getter = asyncio.ensure_future(get())
        stopper = asyncio.ensure_future(stop.wait())
        try:
            done, _ = await asyncio.wait({getter, stopper}, timeout=HEARTBEAT,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (getter, stopper):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        if getter in done:
            yield getter.result()
        elif not done:
            yield None


def setup(app: web.Application) -> None:
    app[SSE_STOP] = asyncio.Event()

    async def stop_streams(app: web.Application) -> None:
        app[SSE_STOP].set()

    app.on_shutdown.append(stop_streams)
    app.router.add_get("/api/v1/events", events_stream, name="api.events")
