"""The /v2/ handlers: parse the request, call the registry, answer with the spec's headers."""

from __future__ import annotations

import re

from aiohttp import web

from c66d import jsonio
from c66d.auth.audit import identity_of
from c66d.auth.identity import allowed, readable_stacks
from c66d.registry.errors import DigestInvalid, ManifestUnknown, RangeInvalid
from c66d.registry.manifests import MAX_MANIFEST, OCI_INDEX, accepts, referrers_index
from c66d.registry.names import check_digest, check_name, stack_of
from c66d.registry.paging import link_header, page_query, read_limited
from c66d.registry.sendfile import send_blob
from c66d.registry.service import REGISTRY, Registry
from c66d.registry.uploads import Session, check_upload_id, upload_whole
from c66d.web.access import access

API_VERSION = {"Docker-Distribution-API-Version": "registry/2.0"}
_CONTENT_RANGE = re.compile(r"^(?:bytes[ =])?(\d+)-(\d+)(?:/(?:\d+|\*))?$")


def _reg(request: web.Request) -> tuple[Registry, str]:
    return request.app[REGISTRY], check_name(request.match_info["name"])


def _content_range(request: web.Request) -> tuple[int | None, int | None]:
    """(start, length) from Content-Range; (None, None) when absent (docker's chunked PATCH)."""
    raw = request.headers.get("Content-Range")
    if raw is None:
        return None, None
    match = _CONTENT_RANGE.match(raw.strip())
    if not match or int(match.group(2)) < int(match.group(1)):
        raise RangeInvalid(f"bad Content-Range {raw[:100]!r}")
    start, length = int(match.group(1)), int(match.group(2)) - int(match.group(1)) + 1
    if request.content_length is not None and request.content_length != length:
        raise RangeInvalid(f"Content-Range covers {length} bytes, Content-Length says "
                           f"{request.content_length}")
    return start, length


def _created(location: str, digest: str) -> web.Response:
    return web.Response(status=201, headers={
        **API_VERSION, "Location": location, "Docker-Content-Digest": digest,
        "Content-Length": "0"})


def _upload_answer(registry: Registry, session: Session, status: int) -> web.Response:
    return web.Response(status=status, headers={
        **API_VERSION, **registry.uploads.headers(session), "Content-Length": "0"})


# blobs ------------------------------------------------------------------------------------
@access("read", stack_param="name")
async def get_blob(request: web.Request) -> web.StreamResponse:
    registry, name = _reg(request)
    blob = await registry.blob(name, request.match_info["digest"])
    if request.method == "HEAD":  # pushers ask before reusing a blob: keep it from GC a while
        await registry.store.touch_link(name, blob.digest)
    headers = {**API_VERSION, "Docker-Content-Digest": blob.digest,
               "Content-Type": "application/octet-stream", "Accept-Ranges": "bytes",
               "ETag": f'"{blob.digest}"', "Cache-Control": "max-age=31536000"}
    if "Range" in request.headers:
        return web.FileResponse(blob.path, headers=headers)
    return await send_blob(request, blob.path, blob.size, headers, registry.senders)


@access("stack_admin", stack_param="name")
async def delete_blob(request: web.Request) -> web.Response:
    registry, name = _reg(request)
    await registry.delete_blob(name, request.match_info["digest"])
    return web.Response(status=202, headers={**API_VERSION, "Content-Length": "0"})


# uploads ----------------------------------------------------------------------------------
@access("deploy", stack_param="name")
async def start_upload(request: web.Request) -> web.Response:
    registry, name = _reg(request)
    query = request.query
    if "mount" in query:
        source = query.get("from")
        if source is not None:
            source = check_name(source)
        # Mounting from another stack needs read on it; otherwise the client uploads instead.
        readable = source is None or allowed(identity_of(request), "read", stack_of(source))
        mounted = await registry.mount(name, query["mount"], source) if readable else None
        if mounted is not None:
            return _created(f"/v2/{name}/blobs/{mounted.digest}", mounted.digest)
    if "digest" in query:
        digest = check_digest(query["digest"])
        record = await upload_whole(registry.blobs, request.content, digest,
                                    registry.committer(name))
        return _created(f"/v2/{name}/blobs/{record.digest}", record.digest)
    session = await registry.uploads.start(name)
    if request.body_exists:
        await registry.uploads.append(session, request.content)
    return _upload_answer(registry, session, 202)


async def _session(request: web.Request) -> tuple[Registry, Session]:
    registry, name = _reg(request)
    upload_id = check_upload_id(request.match_info["uuid"])
    return registry, await registry.uploads.get(name, upload_id)


@access("deploy", stack_param="name")
async def upload_status(request: web.Request) -> web.Response:
    registry, session = await _session(request)
    return _upload_answer(registry, session, 204)


@access("deploy", stack_param="name")
async def patch_upload(request: web.Request) -> web.Response:
    registry, session = await _session(request)
    start, length = _content_range(request)
    await registry.uploads.append(session, request.content, start, length)
    return _upload_answer(registry, session, 202)


@access("deploy", stack_param="name")
async def finish_upload(request: web.Request) -> web.Response:
    registry, session = await _session(request)
    if "digest" not in request.query:
        raise DigestInvalid("PUT to finish an upload needs ?digest=")
    digest = check_digest(request.query["digest"])
    start, length = _content_range(request)
    record = await registry.uploads.finish(session, digest, request.content,
                                           registry.committer(session.repo), start, length)
    return _created(f"/v2/{session.repo}/blobs/{record.digest}", record.digest)


@access("deploy", stack_param="name")
async def cancel_upload(request: web.Request) -> web.Response:
    registry, session = await _session(request)
    await registry.uploads.cancel(session)
    return web.Response(status=204, headers=API_VERSION)


# manifests --------------------------------------------------------------------------------
@access("read", stack_param="name")
async def get_manifest(request: web.Request) -> web.Response:
    registry, name = _reg(request)
    record, body = await registry.manifest(name, request.match_info["reference"])
    if not accepts(record.media_type, request.headers.getall("Accept", [])):
        raise ManifestUnknown(f"the manifest is {record.media_type}, which the Accept header"
                              " does not list", detail={"mediaType": record.media_type})
    return web.Response(body=body, headers={
        **API_VERSION, "Docker-Content-Digest": record.digest,
        "Content-Type": record.media_type, "ETag": f'"{record.digest}"'})


@access("deploy", stack_param="name")
async def put_manifest(request: web.Request) -> web.Response:
    registry, name = _reg(request)
    body = await read_limited(request.content, MAX_MANIFEST)
    parsed = await registry.put_manifest(name, request.match_info["reference"], body,
                                         request.headers.get("Content-Type", ""))
    response = _created(f"/v2/{name}/manifests/{parsed.digest}", parsed.digest)
    if parsed.subject:
        response.headers["OCI-Subject"] = parsed.subject
    return response


@access("stack_admin", stack_param="name")
async def delete_manifest(request: web.Request) -> web.Response:
    registry, name = _reg(request)
    await registry.delete_manifest(name, request.match_info["reference"])
    return web.Response(status=202, headers={**API_VERSION, "Content-Length": "0"})


# listings ---------------------------------------------------------------------------------
@access("read", stack_param="name")
async def list_tags(request: web.Request) -> web.Response:
    registry, name = _reg(request)
    n, last = page_query(request)
    tags = await registry.tags(name, None if n is None else n + 1, last)
    headers = dict(API_VERSION)
    if n is not None and len(tags) > n:
        tags = tags[:n]
        if tags:
            headers["Link"] = link_header(f"/v2/{name}/tags/list", n, tags[-1])
    return web.json_response({"name": name, "tags": tags}, headers=headers,
                             dumps=jsonio.dumps)


@access("read", stack_param=None)
async def catalog(request: web.Request) -> web.Response:
    registry = request.app[REGISTRY]
    n, last = page_query(request)
    identity = identity_of(request)  # None: anonymous pull is on, every repository is readable
    stacks = None if identity is None else readable_stacks(identity)
    names = await registry.store.repositories(None if n is None else n + 1, last, stacks)
    headers = dict(API_VERSION)
    if n is not None and len(names) > n:
        names = names[:n]
        if names:
            headers["Link"] = link_header("/v2/_catalog", n, names[-1])
    return web.json_response({"repositories": names}, headers=headers, dumps=jsonio.dumps)


@access("read", stack_param="name")
async def referrers(request: web.Request) -> web.Response:
    registry, name = _reg(request)
    artifact_type = request.query.get("artifactType")
    found = await registry.referrers(name, request.match_info["digest"], artifact_type)
    headers = {**API_VERSION, "Content-Type": OCI_INDEX}
    if artifact_type is not None:
        headers["OCI-Filters-Applied"] = "artifactType"
    return web.Response(body=jsonio.dumpb(referrers_index(found)), headers=headers)


def add_routes(app: web.Application) -> None:
    name = "/v2/{name:.+}"
    router = app.router
    router.add_get("/v2/_catalog", catalog, name="registry.catalog")
    router.add_get(name + "/tags/list", list_tags)
    router.add_post(name + "/blobs/uploads/", start_upload)
    for method, handler in (("GET", upload_status), ("PATCH", patch_upload),
                            ("PUT", finish_upload), ("DELETE", cancel_upload)):
        router.add_route(method, name + "/blobs/uploads/{uuid}", handler)
    router.add_get(name + "/blobs/{digest}", get_blob)
    router.add_delete(name + "/blobs/{digest}", delete_blob)
    router.add_get(name + "/manifests/{reference}", get_manifest)
    router.add_put(name + "/manifests/{reference}", put_manifest)
    router.add_delete(name + "/manifests/{reference}", delete_manifest)
    router.add_get(name + "/referrers/{digest}", referrers)

