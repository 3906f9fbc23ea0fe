"""`/api/v1/registry/...`: repositories and tags with their build links, deletes, GC."""

from __future__ import annotations

import dataclasses

from aiohttp import web

from c66d.auth import identity_of, readable_stacks
from c66d.errors import Invalid, NotFound
from c66d.keys import CONFIG
from c66d.registry.gc import collect
from c66d.registry.names import check_name, check_tag
from c66d.registry.service import REGISTRY
from c66d.web.access import access
from c66d.web.api import json_response, page_body, page_params, paged, read_json
from c66d.web.openapi import doc


@access("read", stack_param=None)
@doc(paged=True, query={"stack": "only this stack"})
async def list_repositories(request: web.Request) -> web.Response:
    """`?stack=&limit=&cursor=`: repositories of the stacks the caller may read, by name."""
    limit, cursor = page_params(request)
    stacks = readable_stacks(identity_of(request))
    if wanted := request.query.get("stack"):  # a stack the caller may not read: nothing
        stacks = frozenset({wanted} if stacks is None else {wanted} & stacks)
    rows = await request.app[REGISTRY].store.summaries(stacks=stacks, after=cursor,
                                                       limit=limit + 1)
    page, more = paged(rows, limit, lambda s: s.name)
    return json_response(page_body([dataclasses.asdict(s) for s in page], more))


@access("read", stack_param="name")
@doc(paged=True)
async def list_tags(request: web.Request) -> web.Response:
    """`?limit=&cursor=`: a repository's tags by name, each with its build and commit."""
    limit, cursor = page_params(request)
    name = check_name(request.match_info["name"])
    registry = request.app[REGISTRY]
    if not await registry.store.repo_exists(name):
        raise NotFound(f"no repository {name}")
    rows = await registry.store.tags(name, after=cursor, limit=limit + 1)
    page, more = paged(rows, limit, lambda t: t.tag)
    return json_response(page_body([dataclasses.asdict(t) for t in page], more, name=name))


@access("stack_admin", stack_param="name")
async def delete_tag(request: web.Request) -> web.Response:
    name = check_name(request.match_info["name"])
    tag = check_tag(request.match_info["tag"])
    if not await request.app[REGISTRY].store.delete_tag(name, tag):
        raise NotFound(f"no tag {tag!r} in {name}")
    return json_response({"deleted": f"{name}:{tag}"})


@access("admin", stack_param=None)
@doc(body={"untagged": "boolean", "grace": "number"})
async def run_gc(request: web.Request) -> web.Response:
    """Collect now: `{"untagged": true}` also removes manifests no tag reaches; `grace`
    (seconds) overrides the protection of recently pushed content."""
    body = await read_json(request)
    config = request.app[CONFIG]
    untagged = body.get("untagged", False)
    grace = body.get("grace", config.registry_upload_expiry)
    if not isinstance(untagged, bool):
        raise Invalid("untagged must be true or false", detail={"field": "untagged"})
    if not isinstance(grace, int | float) or isinstance(grace, bool) or grace < 0:
        raise Invalid("grace must be a number of seconds >= 0", detail={"field": "grace"})
    report = await collect(request.app[REGISTRY], untagged=untagged, grace=float(grace),
                           upload_expiry=config.registry_upload_expiry)
    return json_response(dataclasses.asdict(report))


def add_routes(app: web.Application) -> None:
    prefix = "/api/v1/registry"
    app.router.add_get(prefix + "/repositories", list_repositories, name="api.registry.repos")
    app.router.add_get(prefix + "/repositories/{name:.+}/tags", list_tags)
    app.router.add_delete(prefix + "/repositories/{name:.+}/tags/{tag}", delete_tag)
    app.router.add_post(prefix + "/gc", run_gc, name="api.registry.gc")
