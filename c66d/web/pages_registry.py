"""Registry pages: repositories; one repository's tags with digest, size, push time, the build
and commit that made each, its layers, the `docker pull` line and a delete button."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from c66d import jsonio
from c66d.auth import allowed, audit, identity_of
from c66d.errors import C66dError, NotFound
from c66d.keys import LISTENERS
from c66d.registry.names import check_name, check_tag
from c66d.registry.service import REGISTRY, Registry
from c66d.store.registry import TagRecord
from c66d.web.access import access
from c66d.web.uikit import render, see_other


@dataclass(frozen=True)
class Layer:
    digest: str
    size: int
    media_type: str


@dataclass(frozen=True)
class TagView:
    tag: TagRecord
    layers: list[Layer]
    total: int  # the manifest, its config and layers (or the child manifests of an index)
    platforms: list[str]


def layers_of(body: bytes) -> tuple[list[Layer], int, list[str]]:
    """(layers, total size, platforms) of a manifest or an index; pure."""
    try:
        doc: dict[str, Any] = jsonio.loads(body)
    except ValueError:
        return [], len(body), []
    layers = [Layer(str(x.get("digest", "")), int(x.get("size", 0)), str(x.get("mediaType", "")))
              for x in doc.get("layers", []) if isinstance(x, dict)]
    config = doc.get("config")
    if not isinstance(config, dict):
        config = {}
    children = [x for x in doc.get("manifests", []) if isinstance(x, dict)]
    platforms = [f"{(c.get('platform') or {}).get('os', '?')}/"
                 f"{(c.get('platform') or {}).get('architecture', '?')}" for c in children]
    total = len(body) + int(config.get("size", 0)) + sum(x.size for x in layers)
    total += sum(int(c.get("size", 0)) for c in children)
    return layers, total, platforms


async def tag_view(registry: Registry, repo: str, tag: TagRecord) -> TagView:
    try:
        _, body = await registry.manifest(repo, tag.digest)
    except C66dError:
        return TagView(tag, [], tag.size, [])
    layers, total, platforms = layers_of(body)
    return TagView(tag, layers, total, platforms)


@access("read", stack_param=None)
async def registry_page(request: web.Request) -> web.Response:
    who = identity_of(request)
    repos = [s for s in await request.app[REGISTRY].store.summaries()
             if allowed(who, "read", s.name.split("/")[0])]
    return render(request, "registry.html", {"repos": repos})


def pull_host(request: web.Request) -> str:
    http = request.app[LISTENERS].http
    return str(http) if http else request.host


@access("read", stack_param="name")
async def repository_page(request: web.Request) -> web.Response:
    name = check_name(request.match_info["name"])
    registry = request.app[REGISTRY]
    if not await registry.store.repo_exists(name):
        raise NotFound(f"no repository {name}")
    tags = [await tag_view(registry, name, t) for t in await registry.store.tags(name)]
    return render(request, "repository.html",
                  {"name": name, "tags": tags, "host": pull_host(request),
                   "stack": name.split("/")[0]})


@access("stack_admin", stack_param="name")
async def delete_tag(request: web.Request) -> web.StreamResponse:
    name = check_name(request.match_info["name"])
    tag = check_tag(request.match_info["tag"])
    if not await request.app[REGISTRY].store.delete_tag(name, tag):
        raise NotFound(f"no tag {tag!r} in {name}")
    await audit(request, "registry.delete_tag", stack=name.split("/")[0], target=f"{name}:{tag}")
    raise see_other(f"/registry/{name}")


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/registry", registry_page, name="ui.registry")
    r.add_post("/registry/{name:.+}/tags/{tag}/delete", delete_tag)
    r.add_get("/registry/{name:.+}", repository_page, name="ui.repository")
