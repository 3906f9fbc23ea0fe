"""Pure parts of the registry: names, manifest validation, Accept negotiation, GC reachability."""

from __future__ import annotations

import json

import pytest

from c66d.registry.errors import DigestInvalid, ManifestInvalid, NameInvalid, TagInvalid
from c66d.registry.gc import unreachable_manifests
from c66d.registry.manifests import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, accepts, parse_manifest
from c66d.registry.names import check_digest, check_name, check_tag
from tests.support.registry import digest, image_manifest, index_manifest


@pytest.mark.parametrize("name", ["shop", "shop/web", "a-b/c__d/e.f", "x--y/0"])
def test_valid_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "Shop/web", "shop/../etc", "/abs", "shop//web", "shop/",
                                  "shop/.hidden", "a" * 256, "shop/web_", "shop/-web"])
def test_invalid_names_refused(name: str) -> None:
    with pytest.raises(NameInvalid):
        check_name(name)


def test_tags_and_digests() -> None:
    assert check_tag("v1.2_3-rc") == "v1.2_3-rc"
    for bad in ("", ".v1", "-x", "a" * 129, "a/b"):
        with pytest.raises(TagInvalid):
            check_tag(bad)
    good = digest(b"x")
    assert check_digest(good) == good
    for bad in ("sha256:abc", "md5:" + "0" * 32, "sha256:" + "G" * 64, "sha512:" + "a" * 128):
        with pytest.raises(DigestInvalid):
            check_digest(bad)


def test_image_manifest_names_its_blobs_and_artifact_type() -> None:
    body = image_manifest(b"cfg", [b"l1", b"l2"], subject=b"subj")
    parsed = parse_manifest(body, "application/vnd.oci.image.manifest.v1+json")
    assert parsed.blobs == (digest(b"cfg"), digest(b"l1"), digest(b"l2"))
    assert parsed.subject == digest(b"subj")
    assert parsed.artifact_type == "application/vnd.oci.image.config.v1+json"
    assert parsed.digest == digest(body) and parsed.size == len(body)


def test_media_type_from_body_header_or_shape() -> None:
    body = json.loads(image_manifest(b"c", []))
    del body["mediaType"]
    raw = json.dumps(body).encode()
    assert parse_manifest(raw, DOCKER_MANIFEST).media_type == DOCKER_MANIFEST
    assert parse_manifest(raw, "").media_type == "application/vnd.oci.image.manifest.v1+json"
    index = parse_manifest(index_manifest([b"m"]), "application/json")
    assert index.media_type == OCI_INDEX and index.children == (digest(b"m"),)


@pytest.mark.parametrize("body,content_type,words", [
    (b'{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}', "", "schema 1"),
    (b"{}", "application/vnd.docker.distribution.manifest.v1+prettyjws", "schema 1"),
    (b"not json", "", "not valid JSON"),
    (b"[]", "", "JSON object"),
    (b'{"schemaVersion":2,"mediaType":"application/x-other"}', "", "unsupported"),
    (b'{"schemaVersion":2,"config":{"size":1}}', "", "descriptor"),
])
def test_bad_manifests_say_why(body: bytes, content_type: str, words: str) -> None:
    with pytest.raises(ManifestInvalid) as caught:
        parse_manifest(body, content_type)
    assert words in caught.value.message


def test_header_and_body_media_types_must_agree() -> None:
    with pytest.raises(ManifestInvalid):
        parse_manifest(image_manifest(b"c", []), DOCKER_LIST)


def test_accept_negotiation_with_several_lines() -> None:
    docker_lines = [DOCKER_MANIFEST, DOCKER_LIST, "application/vnd.oci.image.manifest.v1+json"]
    assert accepts(DOCKER_MANIFEST, docker_lines)
    assert not accepts(OCI_INDEX, docker_lines)
    assert accepts(OCI_INDEX, [])
    assert accepts(OCI_INDEX, ["*/*"])
    assert accepts(OCI_INDEX, [f"{DOCKER_MANIFEST}, {OCI_INDEX};q=0.5"])


def test_unreachable_manifests_follow_tags_indexes_and_referrers() -> None:
    manifests = [("r", "idx", 0.0, ""), ("r", "child", 0.0, ""), ("r", "sig", 0.0, "child"),
                 ("r", "orphan", 0.0, ""), ("r", "orphan-sig", 0.0, "orphan"),
                 ("s", "child", 0.0, "")]
    tags = [("r", "idx")]
    edges = [("r", "idx", "child")]
    assert sorted(unreachable_manifests(manifests, tags, edges)) == [
        ("r", "orphan"), ("r", "orphan-sig"), ("s", "child")]
