"""Garbage collection: unreferenced blobs (and untagged manifests when asked), with a grace
period so blobs of a push still in progress are never taken."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from c66d.logs import get_logger
from c66d.registry.service import Registry

log = get_logger("c66d.registry.gc")
ORPHAN_AGE = 600.0  # files without a record are left alone this long whatever the grace


@dataclass(frozen=True)
class GcReport:
    manifests: list[str] = field(default_factory=list)  # "repo@digest" removed
    blobs: list[str] = field(default_factory=list)
    links: int = 0
    uploads: int = 0
    bytes_freed: int = 0
    seconds: float = 0.0


def unreachable_manifests(
    manifests: Iterable[tuple[str, str, float, str]],
    tags: Iterable[tuple[str, str]],
    edges: Iterable[tuple[str, str, str]],
) -> list[tuple[str, str]]:
    """Manifests no tag reaches, directly, through an index, or as a referrer of a reached
    manifest (pure)."""
    children: dict[tuple[str, str], list[str]] = defaultdict(list)
    for repo, parent, child in edges:
        children[(repo, parent)].append(child)
    referrers: dict[tuple[str, str], list[str]] = defaultdict(list)
    every = []
    for repo, digest, _pushed, subject in manifests:
        every.append((repo, digest))
        if subject:
            referrers[(repo, subject)].append(digest)
    reached: set[tuple[str, str]] = set()
    todo = list(dict.fromkeys(tags))
    while todo:
        key = todo.pop()
        if key in reached:
            continue
        reached.add(key)
        repo, digest = key
        todo += [(repo, c) for c in children.get(key, ())]
        todo += [(repo, r) for r in referrers.get(key, ())]
    return [key for key in every if key not in reached]


async def _remove_orphans(registry: Registry, age: float) -> int:
    """Files no record names: a crash between rename and record, or an upload temp file whose
    session is gone. Listed outside the lock; checked and removed under it."""
    listing = await asyncio.to_thread(registry.blobs.listing)
    async with registry.lock:
        keep = await registry.store.all_blob_digests() | await registry.store.upload_ids()
        return await asyncio.to_thread(registry.blobs.remove_orphans, listing, keep,
                                       time.time() - age)


async def collect(registry: Registry, *, untagged: bool = False, grace: float = 3600.0,
                  upload_expiry: float = 3600.0) -> GcReport:
    """One collection; returns what it freed."""
    started = time.monotonic()
    uploads = await registry.uploads.expire(time.time() - upload_expiry)
    async with registry.lock:
        cutoff = time.time() - grace
        doomed: list[tuple[str, str]] = []
        if untagged:
            doomed = unreachable_manifests(*await registry.store.manifest_graph())
        swept = await registry.store.sweep(cutoff, doomed)
        freed = await registry.blobs.delete([b.digest for b in swept.blobs])
    freed += await _remove_orphans(registry, max(grace, upload_expiry, ORPHAN_AGE))
    report = GcReport([f"{r}@{d}" for r, d in swept.manifests], [b.digest for b in swept.blobs],
                      swept.unlinked, uploads, freed, round(time.monotonic() - started, 3))
    log.info("gc: %d manifests, %d blobs, %d links, %d uploads, %d bytes freed in %.2fs",
             len(report.manifests), len(report.blobs), report.links, report.uploads,
             report.bytes_freed, report.seconds)
    return report
