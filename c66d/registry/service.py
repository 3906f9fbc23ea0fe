"""The registry's domain operations: what every /v2/ handler and the API call."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from c66d.events import EventBus
from c66d.logs import get_logger
from c66d.registry.blobs import BlobStore
from c66d.registry.errors import (
    BlobUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestUnknown,
    NameUnknown,
)
from c66d.registry.manifests import ParsedManifest, parse_manifest
from c66d.registry.names import check_digest, check_tag, is_digest, stack_of
from c66d.registry.sendfile import senders
from c66d.registry.uploads import Commit, Uploads
from c66d.store.registry import BlobRecord, ManifestRecord, RegistryStore

log = get_logger("c66d.registry")


@dataclass(frozen=True)
class Blob:
    digest: str
    size: int
    path: Path


class Registry:
    """Blobs on disk, records in the store, and the lock that keeps GC and pushes apart."""

    def __init__(self, store: RegistryStore, blobs: BlobStore, events: EventBus) -> None:
        self.store = store
        self.blobs = blobs
        self.events = events
        self.uploads = Uploads(store, blobs)
        self.senders = senders()
        # Held while a blob becomes visible/linked and while GC sweeps: GC never removes a
        # blob between a push checking it exists and recording that it uses it.
        self.lock = asyncio.Lock()

    # blobs ------------------------------------------------------------------------------
    async def commit_blob(self, repo: str, temp: Path, digest: str, size: int) -> None:
        async with self.lock:
            await self.blobs.commit(temp, digest)
            await self.store.link_blob(repo, digest, size)

    def committer(self, repo: str) -> Commit:
        return functools.partial(self.commit_blob, repo)

    async def blob(self, repo: str, digest: str) -> Blob:
        check_digest(digest)
        record = await self.store.linked_blob(repo, digest)
        known = record is not None or await self.store.manifest(repo, digest) is not None
        size = self.blobs.size(digest) if known else None  # manifests are blobs too
        if size is None:
            raise BlobUnknown(f"blob {digest} is not in {repo}", detail={"digest": digest})
        return Blob(digest, size, self.blobs.path(digest))

    async def delete_blob(self, repo: str, digest: str) -> None:
        check_digest(digest)
        if not await self.store.unlink_blob(repo, digest):
            raise BlobUnknown(f"blob {digest} is not in {repo}", detail={"digest": digest})

    async def mount(self, repo: str, digest: str, source: str | None) -> BlobRecord | None:
        """Link a blob another repository has; without `source`, look in the same stack
        (automatic content discovery). None: not found, the client uploads instead."""
        check_digest(digest)
        if source is None:
            pattern = stack_of(repo).replace("\\", "\\\\").replace("%", "\\%").replace(
                "_", "\\_")
            source = await self.store.repo_holding(digest, pattern + "%")
        if source is None:
            return None
        async with self.lock:
            record = await self.store.linked_blob(source, digest)
            if record is None or self.blobs.size(digest) is None:
                return None
            await self.store.link_blob(repo, digest, record.size)
        return record

    # manifests --------------------------------------------------------------------------
    async def resolve(self, repo: str, reference: str) -> str:
        if is_digest(reference):
            return check_digest(reference)
        check_tag(reference)
        digest = await self.store.resolve_tag(repo, reference)
        if digest is None:
            raise ManifestUnknown(f"no tag {reference!r} in {repo}", detail={"tag": reference})
        return digest

    async def manifest(self, repo: str, reference: str) -> tuple[ManifestRecord, bytes]:
        digest = await self.resolve(repo, reference)
        record = await self.store.manifest(repo, digest)
        if record is None:
            raise ManifestUnknown(f"no manifest {digest} in {repo}", detail={"digest": digest})
        try:
            body = await self.blobs.read(digest)
        except FileNotFoundError:
            raise ManifestUnknown(f"manifest {digest} has no content on disk") from None
        return record, body

    async def put_manifest(self, repo: str, reference: str, body: bytes,
                           content_type: str) -> ParsedManifest:
        parsed = parse_manifest(body, content_type)
        tag: str | None = None
        if is_digest(reference):
            if check_digest(reference) != parsed.digest:
                raise DigestInvalid(f"manifest content has digest {parsed.digest}, not "
                                    f"{reference}", detail={"actual": parsed.digest})
        else:
            tag = check_tag(reference)
        record = ManifestRecord(repo, parsed.digest, parsed.media_type, parsed.size,
                                parsed.artifact_type, parsed.subject, parsed.annotations)
        async with self.lock:
            missing = await self.store.missing_refs(repo, parsed.blobs, parsed.children)
            if missing:
                raise ManifestBlobUnknown(
                    f"manifest names {len(missing)} blob(s) or manifest(s) not in {repo}:"
                    f" {', '.join(missing[:5])}", detail={"digests": missing})
            await self.blobs.write(body, parsed.digest)
            await self.store.put_manifest(record, tag, parsed.blobs, parsed.children)
        self.events.publish("registry.pushed", repository=repo, tag=tag or "",
                            digest=parsed.digest)
        log.info("pushed %s:%s %s", repo, tag or "", parsed.digest)
        return parsed

    async def delete_manifest(self, repo: str, reference: str) -> None:
        """By digest: the manifest and its tags; by tag: only the tag."""
        if is_digest(reference):
            digest = check_digest(reference)
            if not await self.store.delete_manifest(repo, digest):
                raise ManifestUnknown(f"no manifest {digest} in {repo}")
            return
        check_tag(reference)
        if not await self.store.delete_tag(repo, reference):
            raise ManifestUnknown(f"no tag {reference!r} in {repo}", detail={"tag": reference})

    async def tags(self, repo: str, n: int | None, last: str) -> list[str]:
        if not await self.store.repo_exists(repo):
            raise NameUnknown(f"no repository {repo}", detail={"name": repo})
        return await self.store.tag_names(repo, n, last)

    async def referrers(self, repo: str, digest: str,
                        artifact_type: str | None) -> list[ManifestRecord]:
        check_digest(digest)
        return await self.store.referrers(repo, digest, artifact_type)


REGISTRY = web.AppKey("registry", Registry)
