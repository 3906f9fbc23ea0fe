"""Manifests and indexes: parse, validate, and decide what they name (pure)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from c66d import jsonio
from c66d.registry.errors import ManifestInvalid, RegistryError
from c66d.registry.names import check_digest
from c66d.store.registry import ManifestRecord

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
IMAGE_TYPES = frozenset({DOCKER_MANIFEST, OCI_MANIFEST})
INDEX_TYPES = frozenset({DOCKER_LIST, OCI_INDEX})
MANIFEST_TYPES = IMAGE_TYPES | INDEX_TYPES
SCHEMA1_TYPES = frozenset({
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
})
GENERIC_TYPES = frozenset({"", "application/json", "application/octet-stream"})
MAX_MANIFEST = 4 * 1024 * 1024


@dataclass(frozen=True)
class ParsedManifest:
    media_type: str
    digest: str
    size: int
    blobs: tuple[str, ...] = ()
    children: tuple[str, ...] = ()
    subject: str = ""
    artifact_type: str = ""
    annotations: dict[str, Any] = field(default_factory=dict)


def digest_of(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _bare(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _descriptor(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not isinstance(value.get("digest"), str):
        raise ManifestInvalid(f"{where} is not a descriptor with a digest", detail={"at": where})
    try:
        check_digest(value["digest"])
    except RegistryError as exc:
        raise ManifestInvalid(f"{where}: {exc.message}", detail={"at": where}) from None
    if not isinstance(value.get("size", 0), int) or value.get("size", 0) < 0:
        raise ManifestInvalid(f"{where} has a bad size", detail={"at": where})
    return value


def _descriptors(value: Any, where: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ManifestInvalid(f"{where} must be a list", detail={"at": where})
    return [_descriptor(item, f"{where}[{i}]") for i, item in enumerate(value)]


def _media_type(doc: dict[str, Any], content_type: str) -> str:
    declared = doc.get("mediaType", "")
    if not isinstance(declared, str):
        raise ManifestInvalid("mediaType must be a string")
    header = _bare(content_type)
    if header in SCHEMA1_TYPES or declared in SCHEMA1_TYPES or doc.get("schemaVersion") == 1:
        raise ManifestInvalid(
            "Docker image manifest schema 1 is not supported; push a schema 2 or OCI manifest"
            " (any docker since 1.10, skopeo --format v2s2 or oci)",
            detail={"mediaType": declared or header})
    if doc.get("schemaVersion") != 2:
        raise ManifestInvalid("schemaVersion must be 2")
    if header not in GENERIC_TYPES and declared and header != declared:
        raise ManifestInvalid(f"Content-Type {header} does not match mediaType {declared}")
    chosen = declared or (header if header not in GENERIC_TYPES else "")
    if not chosen:
        chosen = OCI_INDEX if "manifests" in doc else OCI_MANIFEST
    if chosen not in MANIFEST_TYPES:
        raise ManifestInvalid(f"unsupported manifest media type {chosen!r}",
                              detail={"supported": sorted(MANIFEST_TYPES)})
    return chosen


def parse_manifest(body: bytes, content_type: str) -> ParsedManifest:
    """Validate a pushed manifest; MANIFEST_INVALID says what is wrong."""
    try:
        doc = jsonio.loads(body)
    except jsonio.JSONDecodeError:
        raise ManifestInvalid("manifest is not valid JSON") from None
    if not isinstance(doc, dict):
        raise ManifestInvalid("manifest must be a JSON object")
    media_type = _media_type(doc, content_type)
    subject = doc.get("subject")
    subject_digest = _descriptor(subject, "subject")["digest"] if subject is not None else ""
    annotations = doc.get("annotations") or {}
    if not isinstance(annotations, dict):
        raise ManifestInvalid("annotations must be an object")
    artifact_type = doc.get("artifactType") or ""
    blobs: list[str] = []
    children: list[str] = []
    if media_type in IMAGE_TYPES:
        if "manifests" in doc:
            raise ManifestInvalid("an image manifest has no 'manifests'")
        config = _descriptor(doc.get("config"), "config")
        layers = _descriptors(doc.get("layers"), "layers")
        blobs.append(config["digest"])
        blobs += [d["digest"] for d in layers if not d.get("urls")]  # foreign layers stay out
        artifact_type = artifact_type or str(config.get("mediaType", ""))
    else:
        if "layers" in doc or "config" in doc:
            raise ManifestInvalid("an index has no 'config' or 'layers'")
        children = [d["digest"] for d in _descriptors(doc.get("manifests"), "manifests")]
    return ParsedManifest(media_type, digest_of(body), len(body), tuple(blobs),
                          tuple(children), subject_digest, str(artifact_type), annotations)


def accepts(stored_type: str, accept_headers: Sequence[str]) -> bool:
    """Whether a client's Accept lines (docker sends several) allow `stored_type`. A client
    that names anything besides manifest types (`*/*`, `application/json`) gets what is there."""
    offered = [_bare(part) for line in accept_headers for part in line.split(",")]
    offered = [o for o in offered if o]
    if not offered or stored_type in offered:
        return True
    return any(o not in MANIFEST_TYPES and o not in SCHEMA1_TYPES for o in offered)


def referrers_index(records: Iterable[ManifestRecord]) -> dict[str, Any]:
    """The OCI image index `GET /v2/<name>/referrers/<digest>` answers with."""
    manifests = []
    for record in records:
        descriptor: dict[str, Any] = {"mediaType": record.media_type, "digest": record.digest,
                                      "size": record.size}
        if record.artifact_type:
            descriptor["artifactType"] = record.artifact_type
        if record.annotations:
            descriptor["annotations"] = record.annotations
        manifests.append(descriptor)
    return {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
