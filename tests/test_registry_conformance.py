"""Checks the OCI distribution-spec 1.1 conformance suite makes that the other registry tests do
not already make, walked in the suite's order (push, discovery, management)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.support.registry import OCI_INDEX, OCI_MANIFEST, V2, descriptor, digest, image_manifest

Client = TestClient[Any, Any]
SPEC_CODES = {
    "BLOB_UNKNOWN", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN", "MANIFEST_INVALID", "MANIFEST_UNKNOWN", "NAME_INVALID",
    "NAME_UNKNOWN", "SIZE_INVALID", "UNAUTHORIZED", "DENIED", "UNSUPPORTED", "TOOMANYREQUESTS",
}
EMPTY = b"{}"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"


@pytest.fixture
def v2(client: Client) -> V2:
    return V2(client)


async def test_chunked_upload_with_a_retried_chunk(v2: V2) -> None:
    blob = b"A" * 3000 + b"B" * 3000
    resp = await v2.request("POST", "/v2/conf/app/blobs/uploads/",
                            headers={"Content-Length": "0"})
    assert resp.status == 202
    location = resp.headers["Location"]
    resp = await v2.request("PATCH", location, data=blob[:3000],
                            headers={"Content-Range": "0-2999",
                                     "Content-Type": "application/octet-stream"})
    assert resp.status == 202
    location = resp.headers["Location"]
    status = await v2.request("GET", location)
    assert status.status == 204 and status.headers["Range"] == "0-2999"
    # the client retries the chunk it already sent: refused, the session is kept
    resp = await v2.request("PATCH", location, data=blob[:3000],
                            headers={"Content-Range": "0-2999"})
    assert resp.status == 416
    stale = await v2.request("GET", location)
    assert stale.status == 204 and stale.headers["Range"] == "0-2999"
    assert stale.headers["Location"]
    resp = await v2.request("PATCH", stale.headers["Location"], data=blob[3000:],
                            headers={"Content-Range": "3000-5999"})
    assert resp.status == 202 and resp.headers["Range"] == "0-5999"
    resp = await v2.request("PUT", f"{resp.headers['Location']}?digest={digest(blob)}")
    assert resp.status == 201 and resp.headers["Location"].endswith(digest(blob))
    assert await (await v2.request("GET", f"/v2/conf/app/blobs/{digest(blob)}")).read() == blob


async def test_mount_of_a_blob_nobody_has_starts_an_upload(v2: V2) -> None:
    missing = digest(b"nowhere")
    resp = await v2.request("POST", f"/v2/conf/app/blobs/uploads/?mount={missing}&from=conf/x")
    assert resp.status == 202 and "/blobs/uploads/" in resp.headers["Location"]
    assert (await v2.request("GET", resp.headers["Location"])).status == 204


async def test_manifest_without_layers_and_empty_config_artifact(v2: V2) -> None:
    await v2.push_blob("conf/app", b'{"os":"linux"}')
    no_layers = image_manifest(b'{"os":"linux"}', [])
    resp = await v2.push_manifest("conf/app", "empty", no_layers)
    assert resp.status == 201 and resp.headers["Location"]
    # an artifact with the empty config, its one layer inlined with `data`
    await v2.push_blob("conf/app", EMPTY)
    await v2.push_blob("conf/app", b"note")
    artifact = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/x.note",
        "config": {**descriptor(EMPTY, EMPTY_TYPE), "data": base64.b64encode(EMPTY).decode()},
        "layers": [descriptor(b"note", "text/plain")],
    }).encode()
    resp = await v2.push_manifest("conf/app", digest(artifact), artifact)
    assert resp.status == 201, await resp.text()
    got = await v2.request("GET", f"/v2/conf/app/manifests/{digest(artifact)}",
                           headers={"Accept": OCI_MANIFEST})
    assert got.status == 200 and await got.read() == artifact


async def test_manifest_whose_subject_does_not_exist_is_accepted(v2: V2) -> None:
    absent = image_manifest(b"never pushed", [])
    await v2.push_blob("conf/app", b"cfg")
    referrer = image_manifest(b"cfg", [], subject=absent, artifact_type="application/x.sig")
    resp = await v2.push_manifest("conf/app", digest(referrer), referrer)
    assert resp.status == 201, await resp.text()
    assert resp.headers["OCI-Subject"] == digest(absent)
    resp = await v2.request("GET", f"/v2/conf/app/referrers/{digest(absent)}")
    index = await resp.json(content_type=None)
    assert resp.status == 200 and resp.headers["Content-Type"] == OCI_INDEX
    assert [m["digest"] for m in index["manifests"]] == [digest(referrer)]


async def test_bad_reference_answers_400_with_a_spec_code(v2: V2) -> None:
    resp = await v2.request("PUT", "/v2/conf/app/manifests/sha256:totallywrong",
                            data=b'{"schemaVersion": 2, "invalid": true}',
                            headers={"Content-Type": OCI_MANIFEST})
    assert resp.status in (400, 404)
    body = await resp.json(content_type=None)
    assert body["errors"] and body["errors"][0]["code"] in SPEC_CODES
    resp = await v2.request("GET", "/v2/conf/app/referrers/sha256:short")
    assert resp.status == 400
    assert (await resp.json(content_type=None))["errors"][0]["code"] in SPEC_CODES


async def test_four_tags_then_delete_by_tag_keeps_the_others(v2: V2) -> None:
    body = await v2.push_image("conf/app", "test0", [b"layer"])
    for tag in ("test1", "test2", "test3"):
        resp = await v2.push_manifest("conf/app", tag, body)
        assert resp.status == 201 and resp.headers["Location"]
    resp = await v2.request("DELETE", "/v2/conf/app/manifests/test0")
    assert resp.status == 202
    tags = await (await v2.request("GET", "/v2/conf/app/tags/list")).json()
    assert tags["tags"] == ["test1", "test2", "test3"]
    head = await v2.request("HEAD", "/v2/conf/app/manifests/test3")
    assert head.status == 200 and head.headers["Docker-Content-Digest"] == digest(body)
    assert head.headers["Content-Length"] == str(len(body))
