"""/api/v1/containers: the containers c66d runs, and their logs from the server's engine."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiodocker
from aiohttp import web

from c66d.auth import identity_of, readable_stacks, require
from c66d.errors import NotFound, Unavailable
from c66d.keys import STORE
from c66d.orchestrator.routes_deploy import DEPLOYER
from c66d.store import ContainerRecord
from c66d.web.access import access
from c66d.web.api import decode_cursor, encode_cursor, json_response, page_body, page_params, paged
from c66d.web.openapi import doc

_KEY = ("stack", "service", "server", "name", "id")


def _cursor(record: ContainerRecord) -> str:
    return encode_cursor([getattr(record, k) for k in _KEY])


@access("user")
@doc(paged=True, query={
    "stack": "only this stack",
    "service": "only this service",
    "server": "only this server",
})
async def list_containers(request: web.Request) -> web.Response:
    """`?stack=&service=&server=&limit=&cursor=`: containers of the stacks the caller may read."""
    q = request.query
    limit, cursor = page_params(request, default=100, most=1000)
    rows = await request.app[STORE].containers.query(
        stack=q.get("stack", ""), service=q.get("service", ""), server=q.get("server", ""),
        stacks=readable_stacks(identity_of(request)),
        after=tuple(str(v) for v in decode_cursor(cursor, len(_KEY))), limit=limit + 1)
    page, more = paged(rows, limit, _cursor)
    return json_response(page_body([r.__dict__ for r in page], more))


async def _lines(docker: aiodocker.Docker, record: ContainerRecord, *, follow: bool,
                 tail: str) -> AsyncIterator[str]:
    container = docker.containers.container(record.id)
    try:
        if follow:
            async for line in container.log(stdout=True, stderr=True, follow=True, tail=tail):
                yield line
        else:
            for line in await container.log(stdout=True, stderr=True, tail=tail):
                yield line
    except aiodocker.DockerError as exc:
        if exc.status == 404:
            raise NotFound(f"container {record.name} is gone from server {record.server}",
                           detail={"container": record.id}) from None
        raise Unavailable(f"server {record.server} could not give the log: {exc.message}",
                          detail={"server": record.server}) from None


@access("user", stack_param=None)
@doc(text=True, query={"follow": "1: stream new lines", "tail": "only the last N lines"})
async def container_log(request: web.Request) -> web.StreamResponse:
    """`GET /api/v1/containers/{id}/log?tail=N&follow=1`: stdout and stderr as text; with
    follow=1 streamed until the container stops or the client goes."""
    record = await request.app[STORE].containers.get(request.match_info["id"])
    require(request, "read", record.stack)
    follow = request.query.get("follow") in {"1", "true", "yes"}
    tail = request.query.get("tail", "all")
    if tail != "all" and not tail.isdigit():
        tail = "all"
    docker = request.app[DEPLOYER].reach.docker(record.server)
    lines = _lines(docker, record, follow=follow, tail=tail)
    first = await anext(lines, None)  # errors surface before the answer starts
    response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8",
                                           "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    if first is not None:
        await response.write(first.encode())
        async for line in lines:
            await response.write(line.encode())
    await response.write_eof()
    return response


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v1/containers", list_containers, name="api.containers")
    r.add_get("/api/v1/containers/{id}/log", container_log, name="api.container_log")
