"""The /v2/ endpoint over HTTP, in-process: the spec's pull, push, discovery and management."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from c66d.app import create_app
from c66d.config import Config
from c66d.keys import EVENTS, STORE
from c66d.registry.service import REGISTRY
from tests.support.auth import PASSWORD, add_team, add_user
from tests.support.http import ADMIN, basic
from tests.support.proc import C66dProcess
from tests.support.registry import (
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    V2,
    digest,
    image_manifest,
    index_manifest,
)

Client = TestClient[Any, Any]


@pytest.fixture
def v2(client: Client) -> V2:
    return V2(client)


def blob_files(client: Client) -> list[str]:
    root = client.server.app[REGISTRY].blobs.tree
    return sorted(p.name for p in root.glob("*/*"))


# pull ------------------------------------------------------------------------------------
async def test_base_asks_for_credentials_then_answers(client: Client, v2: V2) -> None:
    resp = await client.get("/v2/")
    assert resp.status == 401 and "WWW-Authenticate" in resp.headers
    assert (await resp.json())["errors"][0]["code"] == "UNAUTHORIZED"
    resp = await v2.request("GET", "/v2/")
    assert resp.status == 200
    assert resp.headers["Docker-Distribution-API-Version"] == "registry/2.0"


async def test_pull_manifest_and_blobs_with_spec_headers(v2: V2) -> None:
    body = await v2.push_image("shop/web", "v1", [b"layer-one", b"layer-two"])
    for ref in ("v1", digest(body)):
        resp = await v2.request("GET", f"/v2/shop/web/manifests/{ref}")
        assert resp.status == 200 and await resp.read() == body
        assert resp.headers["Content-Type"] == OCI_MANIFEST
        assert resp.headers["Docker-Content-Digest"] == digest(body)
        assert resp.headers["Content-Length"] == str(len(body))
    head = await v2.request("HEAD", "/v2/shop/web/manifests/v1")
    assert head.status == 200 and head.headers["Content-Length"] == str(len(body))
    resp = await v2.request("GET", f"/v2/shop/web/blobs/{digest(b'layer-one')}")
    assert resp.status == 200 and await resp.read() == b"layer-one"
    assert resp.headers["Docker-Content-Digest"] == digest(b"layer-one")
    head = await v2.request("HEAD", f"/v2/shop/web/blobs/{digest(b'layer-two')}")
    assert head.status == 200 and head.headers["Content-Length"] == "9"


async def test_blob_ranges(v2: V2) -> None:
    data = bytes(range(256)) * 40
    blob = await v2.push_blob("shop/web", data)
    resp = await v2.request("GET", f"/v2/shop/web/blobs/{blob}", headers={"Range": "bytes=10-19"})
    assert resp.status == 206 and await resp.read() == data[10:20]
    assert resp.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    resp = await v2.request("GET", f"/v2/shop/web/blobs/{blob}",
                            headers={"Range": f"bytes={len(data) + 5}-"})
    assert resp.status == 416


async def test_unknown_things_answer_spec_codes(v2: V2) -> None:
    missing = digest(b"never pushed")
    resp = await v2.request("GET", f"/v2/shop/web/blobs/{missing}")
    assert resp.status == 404 and await v2.error_code(resp) == "BLOB_UNKNOWN"
    resp = await v2.request("GET", "/v2/shop/web/manifests/nope")
    assert resp.status == 404 and await v2.error_code(resp) == "MANIFEST_UNKNOWN"
    resp = await v2.request("GET", "/v2/shop/none/tags/list")
    assert resp.status == 404 and await v2.error_code(resp) == "NAME_UNKNOWN"
    resp = await v2.request("GET", "/v2/Shop/../x/manifests/v1")
    assert resp.status in (400, 404)
    resp = await v2.request("GET", "/v2/shop/a..b/manifests/v1")
    assert resp.status == 400 and await v2.error_code(resp) == "NAME_INVALID"


async def test_blob_of_another_repository_is_not_visible(v2: V2) -> None:
    blob = await v2.push_blob("shop/web", b"private")
    resp = await v2.request("GET", f"/v2/other/web/blobs/{blob}")
    assert resp.status == 404


async def test_accept_negotiation_with_docker_style_header_lines(v2: V2) -> None:
    child = await v2.push_image("shop/web", "child", [b"l"])
    index = index_manifest([child])
    assert (await v2.push_manifest("shop/web", "multi", index, OCI_INDEX)).status == 201
    docker_accept = [("Accept", DOCKER_MANIFEST), ("Accept", OCI_MANIFEST)]
    resp = await v2.request("GET", "/v2/shop/web/manifests/multi", headers=docker_accept)
    assert resp.status == 404 and await v2.error_code(resp) == "MANIFEST_UNKNOWN"
    docker_accept.append(("Accept", OCI_INDEX))
    resp = await v2.request("GET", "/v2/shop/web/manifests/multi", headers=docker_accept)
    assert resp.status == 200 and resp.headers["Content-Type"] == OCI_INDEX


# push ------------------------------------------------------------------------------------
async def test_post_then_put_and_chunked_patches(v2: V2, client: Client) -> None:
    data = b"0123456789" * 1000
    resp = await v2.request("POST", "/v2/shop/web/blobs/uploads/")
    assert resp.status == 202 and resp.headers["Range"] == "0-0"
    location, upload_id = resp.headers["Location"], resp.headers["Docker-Upload-UUID"]
    assert upload_id in location
    resp = await v2.request("PATCH", location, data=data[:4000],
                            headers={"Content-Range": "0-3999",
                                     "Content-Type": "application/octet-stream"})
    assert resp.status == 202 and resp.headers["Range"] == "0-3999"
    resp = await v2.request("PATCH", location, data=data[6000:7000],
                            headers={"Content-Range": "6000-6999"})
    assert resp.status == 416 and resp.headers["Range"] == "0-3999"

    async def chunked() -> AsyncIterator[bytes]:  # docker/skopeo: no Content-Range
        for i in range(4000, 9000, 1000):
            yield data[i:i + 1000]

    resp = await v2.request("PATCH", location, data=chunked())
    assert resp.status == 202 and resp.headers["Range"] == "0-8999"
    status = await v2.request("GET", location)
    assert status.status == 204 and status.headers["Range"] == "0-8999"
    assert status.headers["Docker-Upload-UUID"] == upload_id
    resp = await v2.request("PUT", f"{location}?digest={digest(data)}", data=data[9000:],
                            headers={"Content-Range": "9000-9999"})
    assert resp.status == 201, await resp.text()
    assert resp.headers["Location"] == f"/v2/shop/web/blobs/{digest(data)}"
    got = await v2.request("GET", f"/v2/shop/web/blobs/{digest(data)}")
    assert await got.read() == data
    assert (await v2.request("GET", location)).status == 404


async def test_bad_digest_leaves_nothing_visible(v2: V2, client: Client) -> None:
    wrong = digest(b"something else")
    resp = await v2.request("POST", f"/v2/shop/web/blobs/uploads/?digest={wrong}", data=b"data")
    assert resp.status == 400 and await v2.error_code(resp) == "DIGEST_INVALID"
    resp = await v2.request("POST", "/v2/shop/web/blobs/uploads/")
    location = resp.headers["Location"]
    await v2.request("PATCH", location, data=b"data")
    resp = await v2.request("PUT", f"{location}?digest={wrong}")
    assert resp.status == 400 and await v2.error_code(resp) == "DIGEST_INVALID"
    for blob in (wrong, digest(b"data")):
        assert (await v2.request("HEAD", f"/v2/shop/web/blobs/{blob}")).status == 404
    assert blob_files(client) == []
    assert list(client.server.app[REGISTRY].blobs.uploads.iterdir()) == []
    resp = await v2.request("POST", "/v2/shop/web/blobs/uploads/?digest=md5:abc", data=b"x")
    assert resp.status == 400 and await v2.error_code(resp) == "DIGEST_INVALID"


async def test_cancel_upload(v2: V2) -> None:
    resp = await v2.request("POST", "/v2/shop/web/blobs/uploads/")
    location = resp.headers["Location"]
    assert (await v2.request("DELETE", location)).status == 204
    resp = await v2.request("PATCH", location, data=b"late")
    assert resp.status == 404 and await v2.error_code(resp) == "BLOB_UPLOAD_UNKNOWN"


async def test_manifest_refusals(v2: V2) -> None:
    await v2.push_blob("shop/web", b"cfg")
    missing_layer = image_manifest(b"cfg", [b"not uploaded"])
    resp = await v2.push_manifest("shop/web", "v1", missing_layer)
    assert resp.status == 400 and await v2.error_code(resp) == "MANIFEST_BLOB_UNKNOWN"
    resp = await v2.push_manifest("shop/web", "v1", index_manifest([b"{}"]), OCI_INDEX)
    assert resp.status == 400 and await v2.error_code(resp) == "MANIFEST_BLOB_UNKNOWN"
    schema1 = b'{"schemaVersion":1,"name":"shop/web","tag":"v1","fsLayers":[],"history":[]}'
    resp = await v2.push_manifest("shop/web", "v1", schema1,
                                  "application/vnd.docker.distribution.manifest.v1+prettyjws")
    assert resp.status == 400 and await v2.error_code(resp) == "MANIFEST_INVALID"
    assert "schema 1" in (await resp.json())["errors"][0]["message"]
    good = image_manifest(b"cfg", [])
    resp = await v2.push_manifest("shop/web", digest(b"other"), good)
    assert resp.status == 400 and await v2.error_code(resp) == "DIGEST_INVALID"
    resp = await v2.push_manifest("shop/web", "bad:tag", good)
    assert resp.status == 400
    assert (await v2.request("GET", "/v2/shop/web/tags/list")).status == 200
    assert (await (await v2.request("GET", "/v2/shop/web/tags/list")).json())["tags"] == []


async def test_push_by_digest_and_event(v2: V2, client: Client) -> None:
    sub = client.server.app[EVENTS].subscribe(["registry."])
    await v2.push_blob("shop/web", b"cfg")
    body = image_manifest(b"cfg", [])
    resp = await v2.push_manifest("shop/web", digest(body), body)
    assert resp.status == 201 and resp.headers["Docker-Content-Digest"] == digest(body)
    resp = await v2.push_manifest("shop/web", "latest", body)
    assert resp.status == 201
    kinds = [sub.queue.get_nowait() for _ in range(sub.queue.qsize())]
    assert [(e.kind, e.data["tag"]) for e in kinds] == [("registry.pushed", ""),
                                                       ("registry.pushed", "latest")]
    assert kinds[1].data == {"repository": "shop/web", "tag": "latest", "digest": digest(body)}


async def test_cross_repository_mount(v2: V2) -> None:
    blob = await v2.push_blob("shop/web", b"shared layer")
    resp = await v2.request("POST", f"/v2/shop/api/blobs/uploads/?mount={blob}&from=shop/web")
    assert resp.status == 201 and resp.headers["Location"] == f"/v2/shop/api/blobs/{blob}"
    resp = await v2.request("POST", f"/v2/shop/worker/blobs/uploads/?mount={blob}")
    assert resp.status == 201  # automatic content discovery within the stack
    resp = await v2.request("POST", f"/v2/other/app/blobs/uploads/?mount={blob}&from=shop/x")
    assert resp.status == 202 and "/blobs/uploads/" in resp.headers["Location"]
    resp = await v2.request("POST", f"/v2/other/app/blobs/uploads/?mount={blob}")
    assert resp.status == 202  # another stack's content is not discovered
    got = await v2.request("GET", f"/v2/shop/api/blobs/{blob}")
    assert await got.read() == b"shared layer"


async def test_upload_session_survives_a_restart(config: Config) -> None:
    data = b"abc" * 5000
    async with TestClient(TestServer(create_app(config), host="127.0.0.1")) as first:
        resp = await V2(first).request("POST", "/v2/shop/web/blobs/uploads/")
        location = resp.headers["Location"]
        resp = await V2(first).request("PATCH", location, data=data[:7000],
                                       headers={"Content-Range": "0-6999"})
        assert resp.status == 202
    async with TestClient(TestServer(create_app(config), host="127.0.0.1")) as second:
        v2 = V2(second)
        status = await v2.request("GET", location)
        assert status.status == 204 and status.headers["Range"] == "0-6999"
        resp = await v2.request("PUT", f"{location}?digest={digest(data)}", data=data[7000:],
                                headers={"Content-Range": f"7000-{len(data) - 1}"})
        assert resp.status == 201, await resp.text()
        assert await (await v2.request("GET", f"/v2/shop/web/blobs/{digest(data)}")).read() == data


# content discovery -----------------------------------------------------------------------
async def test_tags_and_catalog_paginate_with_link(v2: V2) -> None:
    body = await v2.push_image("shop/web", "a", [b"l"])
    for tag in ("d", "c", "b"):
        assert (await v2.push_manifest("shop/web", tag, body)).status == 201
    await v2.push_image("shop/api", "x", [b"l"])
    resp = await v2.request("GET", "/v2/shop/web/tags/list?n=2")
    assert (await resp.json()) == {"name": "shop/web", "tags": ["a", "b"]}
    assert resp.headers["Link"] == '</v2/shop/web/tags/list?n=2&last=b>; rel="next"'
    resp = await v2.request("GET", "/v2/shop/web/tags/list?n=2&last=b")
    assert (await resp.json())["tags"] == ["c", "d"] and "Link" not in resp.headers
    resp = await v2.request("GET", "/v2/shop/web/tags/list?n=0")
    assert (await resp.json())["tags"] == []
    resp = await v2.request("GET", "/v2/shop/web/tags/list")
    assert (await resp.json())["tags"] == ["a", "b", "c", "d"]
    resp = await v2.request("GET", "/v2/_catalog?n=1")
    assert (await resp.json()) == {"repositories": ["shop/api"]}
    assert resp.headers["Link"] == '</v2/_catalog?n=1&last=shop%2Fapi>; rel="next"'
    resp = await v2.request("GET", "/v2/_catalog?n=1&last=shop/api")
    assert (await resp.json()) == {"repositories": ["shop/web"]}


async def test_referrers_with_artifact_type_filter(v2: V2) -> None:
    subject = await v2.push_image("shop/web", "v1", [b"l"])
    await v2.push_blob("shop/web", b"sig")
    signature = image_manifest(b"cfg", [b"sig"], subject=subject,
                               artifact_type="application/vnd.example.sig",
                               annotations={"k": "v"})
    await v2.push_blob("shop/web", b"cfg")
    resp = await v2.push_manifest("shop/web", digest(signature), signature)
    assert resp.status == 201 and resp.headers["OCI-Subject"] == digest(subject)
    sbom = image_manifest(b"cfg", [b"sig"], subject=subject,
                          artifact_type="application/vnd.example.sbom")
    assert (await v2.push_manifest("shop/web", digest(sbom), sbom)).status == 201
    resp = await v2.request("GET", f"/v2/shop/web/referrers/{digest(subject)}")
    index = await resp.json(content_type=None)
    assert resp.headers["Content-Type"] == OCI_INDEX and index["mediaType"] == OCI_INDEX
    assert {m["artifactType"] for m in index["manifests"]} == {
        "application/vnd.example.sig", "application/vnd.example.sbom"}
    resp = await v2.request(
        "GET", f"/v2/shop/web/referrers/{digest(subject)}?artifactType=application/vnd.example.sig")
    index = await resp.json(content_type=None)
    assert resp.headers["OCI-Filters-Applied"] == "artifactType"
    assert index["manifests"] == [{"mediaType": OCI_MANIFEST, "digest": digest(signature),
                                   "size": len(signature),
                                   "artifactType": "application/vnd.example.sig",
                                   "annotations": {"k": "v"}}]
    resp = await v2.request("GET", f"/v2/shop/web/referrers/{digest(b'none')}")
    assert resp.status == 200 and (await resp.json(content_type=None))["manifests"] == []


# content management ----------------------------------------------------------------------
async def test_deletes(v2: V2) -> None:
    body = await v2.push_image("shop/web", "v1", [b"l"])
    await v2.push_manifest("shop/web", "v2", body)
    assert (await v2.request("DELETE", "/v2/shop/web/manifests/v1")).status == 202
    assert (await v2.request("GET", "/v2/shop/web/manifests/v1")).status == 404
    assert (await v2.request("GET", "/v2/shop/web/manifests/v2")).status == 200
    assert (await v2.request("DELETE", f"/v2/shop/web/manifests/{digest(body)}")).status == 202
    for ref in ("v2", digest(body)):
        assert (await v2.request("GET", f"/v2/shop/web/manifests/{ref}")).status == 404
    resp = await v2.request("DELETE", "/v2/shop/web/manifests/v2")
    assert resp.status == 404 and await v2.error_code(resp) == "MANIFEST_UNKNOWN"
    assert (await v2.request("DELETE", f"/v2/shop/web/blobs/{digest(b'l')}")).status == 202
    assert (await v2.request("GET", f"/v2/shop/web/blobs/{digest(b'l')}")).status == 404
    resp = await v2.request("DELETE", f"/v2/shop/web/blobs/{digest(b'l')}")
    assert resp.status == 404 and await v2.error_code(resp) == "BLOB_UNKNOWN"


async def test_gc_frees_unreferenced_and_keeps_recent(v2: V2, client: Client) -> None:
    kept = await v2.push_image("shop/web", "v1", [b"kept layer"])
    loose = await v2.push_blob("shop/web", b"loose blob, no manifest")
    untagged = await v2.push_image("shop/web", "old", [b"old layer"])
    await v2.request("DELETE", "/v2/shop/web/manifests/old")
    resp = await v2.request("POST", "/api/v1/registry/gc", json={})
    report = await resp.json()
    assert resp.status == 200 and report["blobs"] == [] and report["manifests"] == []
    resp = await v2.request("POST", "/api/v1/registry/gc", json={"grace": 0})
    report = await resp.json()
    assert report["blobs"] == [loose] and report["bytes_freed"] == len(b"loose blob, no manifest")
    assert (await v2.request("GET", f"/v2/shop/web/manifests/{digest(untagged)}")).status == 200
    resp = await v2.request("POST", "/api/v1/registry/gc", json={"grace": 0, "untagged": True})
    report = await resp.json()
    assert report["manifests"] == [f"shop/web@{digest(untagged)}"]
    assert set(report["blobs"]) == {digest(untagged), digest(b"old layer")}
    assert (await v2.request("GET", "/v2/shop/web/manifests/v1")).status == 200
    for blob in (digest(kept), digest(b"kept layer"), digest(b'{"os":"linux"}')):
        assert blob.split(":")[1] in blob_files(client)
    resp = await v2.request("POST", "/api/v1/registry/gc", json={"grace": "soon"})
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "INVALID"


async def test_idle_uploads_expire(v2: V2, client: Client) -> None:
    resp = await v2.request("POST", "/v2/shop/web/blobs/uploads/")
    location = resp.headers["Location"]
    await v2.request("PATCH", location, data=b"half")
    registry = client.server.app[REGISTRY]
    assert await registry.uploads.expire(idle_before=0) == 0
    assert await registry.uploads.expire(idle_before=2**40) == 1
    assert (await v2.request("GET", location)).status == 404
    assert list(registry.blobs.uploads.iterdir()) == []


async def test_registry_api_lists_with_build_links(v2: V2, client: Client) -> None:
    body = await v2.push_image("shop/web", "v1", [b"l"])
    store = client.server.app[STORE]
    assert await store.registry.link_build("shop/web", digest(body), 42, "abc123")
    resp = await v2.request("GET", "/api/v1/registry/repositories")
    repos = (await resp.json())["items"]
    assert [(r["name"], r["tags"]) for r in repos] == [("shop/web", 1)]
    resp = await v2.request("GET", "/api/v1/registry/repositories/shop/web/tags")
    tags = (await resp.json())["items"]
    assert [(t["tag"], t["digest"], t["build_id"], t["git_commit"]) for t in tags] == [
        ("v1", digest(body), 42, "abc123")]
    resp = await v2.request("DELETE", "/api/v1/registry/repositories/shop/web/tags/v1")
    assert resp.status == 200
    resp = await v2.request("DELETE", "/api/v1/registry/repositories/shop/web/tags/v1")
    assert resp.status == 404
    resp = await client.get("/api/v1/registry/repositories")
    assert resp.status == 401


async def test_cli_gc_and_listing(v2: V2, config: Config) -> None:
    await v2.push_image("shop/web", "v1", [b"l"])
    loose = await v2.push_blob("shop/web", b"loose")
    base = [sys.executable, "-m", "c66d", "registry"]
    where = ["--data-dir", str(config.data_dir)]
    out = subprocess.run([*base, "gc", "--grace", "0", *where], capture_output=True,
                         text=True, timeout=60, check=True)
    assert json.loads(out.stdout)["blobs"] == [loose]
    assert (await v2.request("GET", f"/v2/shop/web/blobs/{loose}")).status == 404
    out = subprocess.run([*base, "tags", "shop/web", *where], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.startswith("v1\tsha256:")


async def test_gc_while_pushing_spares_open_uploads_and_fresh_layers(v2: V2) -> None:
    layer = await v2.push_blob("shop/web", b"fresh layer")
    resp = await v2.request("POST", "/v2/shop/web/blobs/uploads/")
    location = resp.headers["Location"]
    await v2.request("PATCH", location, data=b"first half ")
    report = await (await v2.request("POST", "/api/v1/registry/gc", json={})).json()
    assert report["blobs"] == [] and report["links"] == 0
    resp = await v2.request("PATCH", location, data=b"second half")
    assert resp.status == 202
    whole = b"first half second half"
    resp = await v2.request("PUT", f"{location}?digest={digest(whole)}")
    assert resp.status == 201
    await v2.push_blob("shop/web", b"{}")
    body = image_manifest(b"{}", [b"fresh layer", whole])
    assert (await v2.push_manifest("shop/web", "v1", body)).status == 201
    assert layer in (await (await v2.request("GET", "/v2/shop/web/manifests/v1")).text())


async def test_scheduled_gc_and_upload_expiry(config: Config) -> None:
    fast = config.replace(registry_upload_expiry=1.0, registry_gc_interval=1.0)
    async with TestClient(TestServer(create_app(fast), host="127.0.0.1")) as client:
        v2 = V2(client)
        loose = await v2.push_blob("shop/web", b"loose")
        location = (await v2.request("POST", "/v2/shop/web/blobs/uploads/")).headers["Location"]
        await v2.request("PATCH", location, data=b"abandoned")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            blob = await v2.request("GET", f"/v2/shop/web/blobs/{loose}")  # HEAD would keep it
            upload = await v2.request("GET", location)
            if blob.status == 404 and upload.status == 404:
                break
            await asyncio.sleep(0.25)
        assert (blob.status, upload.status) == (404, 404)
        assert blob_files(client) == []


async def test_mount_from_a_stack_the_caller_cannot_read_uploads_instead(
    client: TestClient[Any, Any]
) -> None:
    admin = V2(client)
    blob = await admin.push_blob("secret/app", b"layer only secret may read")
    await add_user(client, "dora")
    await add_team(client, "shop-deployers", "deployer", ["dora"], ["shop"])
    dora = basic("dora", PASSWORD)
    resp = await client.post(f"/v2/shop/web/blobs/uploads/?mount={blob}&from=secret/app",
                             headers=dora)
    assert resp.status == 202  # no mount: she must upload the bytes herself
    resp = await client.head(f"/v2/shop/web/blobs/{blob}", headers=dora)
    assert resp.status == 404
    resp = await client.post(f"/v2/shop/web/blobs/uploads/?mount={blob}&from=secret/app",
                             headers=ADMIN)
    assert resp.status == 201  # the admin reads every stack


def test_cli_gc_refuses_files_a_running_c66d_serves(c66d: C66dProcess) -> None:
    c66d.start()
    out = subprocess.run([sys.executable, "-m", "c66d", "registry", "gc", "--data-dir",
                          str(c66d.data_dir)], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert f"pid {c66d.proc.pid if c66d.proc else '?'}" in out.stderr
    assert "POST /api/v1/registry/gc" in out.stderr
    c66d.stop()
    out = subprocess.run([sys.executable, "-m", "c66d", "registry", "gc", "--data-dir",
                          str(c66d.data_dir)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["blobs"] == []
