"""Registry records: repositories, blobs and links, manifests, tags, uploads, GC bookkeeping."""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite

from c66d import jsonio
from c66d.store.db import Database
from c66d.store.filters import stacks_clause

# A repository's stack is the first component of its name.
_REPO_STACK = "substr({col}, 1, instr({col} || '/', '/') - 1)"


@dataclass(frozen=True)
class BlobRecord:
    digest: str
    size: int


@dataclass(frozen=True)
class UploadRecord:
    uuid: str
    repo: str
    received: int
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class ManifestRecord:
    repo: str
    digest: str
    media_type: str
    size: int
    artifact_type: str = ""
    subject: str = ""
    annotations: dict[str, Any] | None = None
    pushed_at: float = 0.0
    build_id: int | None = None
    git_commit: str = ""

    @classmethod
    def from_row(cls, row: aiosqlite.Row) -> ManifestRecord:
        values = dict(row)
        values["annotations"] = jsonio.loads(values["annotations"]) or None
        return cls(**values)


@dataclass(frozen=True)
class TagRecord:
    """A tag with what it points at, for the API and the UI."""

    tag: str
    digest: str
    media_type: str
    size: int
    pushed_at: float
    build_id: int | None
    git_commit: str


@dataclass(frozen=True)
class RepositorySummary:
    name: str
    tags: int
    manifests: int
    last_push: float | None


@dataclass(frozen=True)
class SweepResult:
    """What one collection removed from the records (files are removed by the caller)."""

    unlinked: int
    manifests: list[tuple[str, str]]
    blobs: list[BlobRecord]


_UNLINK_UNUSED = """
    DELETE FROM registry_repo_blobs WHERE linked_at < ?
    AND NOT EXISTS (SELECT 1 FROM registry_manifest_refs r WHERE r.repo = registry_repo_blobs.repo
                    AND r.kind = 'blob' AND r.child = registry_repo_blobs.digest)
"""
_DELETE_UNUSED = """
    DELETE FROM registry_blobs WHERE created_at < ?
    AND NOT EXISTS (SELECT 1 FROM registry_repo_blobs l WHERE l.digest = registry_blobs.digest)
    AND NOT EXISTS (SELECT 1 FROM registry_manifest_refs r WHERE r.child = registry_blobs.digest)
    AND NOT EXISTS (SELECT 1 FROM registry_manifests m WHERE m.digest = registry_blobs.digest)
    RETURNING digest, size
"""
_DELETE_EMPTY_REPOS = """
    DELETE FROM registry_repositories WHERE created_at < ?
    AND NOT EXISTS (SELECT 1 FROM registry_manifests m WHERE m.repo = registry_repositories.name)
    AND NOT EXISTS (SELECT 1 FROM registry_repo_blobs l WHERE l.repo = registry_repositories.name)
    AND NOT EXISTS (SELECT 1 FROM registry_uploads u WHERE u.repo = registry_repositories.name)
"""


class RegistryStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # repositories -------------------------------------------------------------------------
    async def ensure_repo(self, name: str) -> None:
        await self.db.execute(
            "INSERT OR IGNORE INTO registry_repositories (name, created_at) VALUES (?, ?)",
            (name, time.time()))

    async def repo_exists(self, name: str) -> bool:
        row = await self.db.fetchone("SELECT 1 FROM registry_repositories WHERE name = ?", (name,))
        return row is not None

    async def repositories(self, n: int | None = None, last: str = "",
                           stacks: Collection[str] | None = None) -> list[str]:
        """Repository names in lexical order after `last`, at most `n`, of `stacks` (None: all)."""
        readable, names = stacks_clause(_REPO_STACK.format(col="name"), stacks)
        rows = await self.db.fetchall(
            "SELECT name FROM registry_repositories WHERE name > ?"  # noqa: S608 - fixed names
            f"{' AND ' + readable if readable else ''} ORDER BY name LIMIT ?",
            (last, *names, -1 if n is None else n))
        return [r[0] for r in rows]

    async def summaries(self, *, stacks: Collection[str] | None = None, after: str = "",
                        limit: int = -1) -> list[RepositorySummary]:
        """Repositories after `after` by name with their counts, of `stacks` (None: all)."""
        readable, names = stacks_clause(_REPO_STACK.format(col="r.name"), stacks)
        rows = await self.db.fetchall(
            "SELECT r.name,"  # noqa: S608 - fixed names
            " (SELECT COUNT(*) FROM registry_tags t WHERE t.repo = r.name),"
            " (SELECT COUNT(*) FROM registry_manifests m WHERE m.repo = r.name),"
            " (SELECT MAX(pushed_at) FROM registry_manifests m WHERE m.repo = r.name)"
            " FROM registry_repositories r WHERE r.name > ?"
            f"{' AND ' + readable if readable else ''} ORDER BY r.name LIMIT ?",
            (after, *names, limit))
        return [RepositorySummary(r[0], r[1], r[2], r[3]) for r in rows]

    # blobs --------------------------------------------------------------------------------
    async def linked_blob(self, repo: str, digest: str) -> BlobRecord | None:
        row = await self.db.fetchone(
            "SELECT b.digest, b.size FROM registry_blobs b JOIN registry_repo_blobs l"
            " ON l.digest = b.digest WHERE l.repo = ? AND l.digest = ?", (repo, digest))
        return None if row is None else BlobRecord(row[0], row[1])

    async def blob(self, digest: str) -> BlobRecord | None:
        row = await self.db.fetchone(
            "SELECT digest, size FROM registry_blobs WHERE digest = ?", (digest,))
        return None if row is None else BlobRecord(row[0], row[1])

    async def repo_holding(self, digest: str, repos_like: str) -> str | None:
        """A repository (matching the LIKE pattern) that has the blob linked."""
        row = await self.db.fetchone(
            "SELECT repo FROM registry_repo_blobs WHERE digest = ? AND repo LIKE ? ESCAPE '\\'"
            " LIMIT 1", (digest, repos_like))
        return None if row is None else str(row[0])

    async def link_blob(self, repo: str, digest: str, size: int) -> None:
        """Record the blob (if new) and make it visible in `repo` (refreshing its link time)."""
        now = time.time()
        async with self.db.write() as conn:
            await conn.execute(
                "INSERT OR IGNORE INTO registry_repositories (name, created_at) VALUES (?, ?)",
                (repo, now))
            await conn.execute(
                "INSERT INTO registry_blobs (digest, size, created_at) VALUES (?, ?, ?)"
                " ON CONFLICT (digest) DO UPDATE SET created_at = excluded.created_at",
                (digest, size, now))
            await conn.execute(
                "INSERT INTO registry_repo_blobs (repo, digest, linked_at) VALUES (?, ?, ?)"
                " ON CONFLICT (repo, digest) DO UPDATE SET linked_at = excluded.linked_at",
                (repo, digest, now))

    async def touch_link(self, repo: str, digest: str) -> None:
        await self.db.execute(
            "UPDATE registry_repo_blobs SET linked_at = ? WHERE repo = ? AND digest = ?",
            (time.time(), repo, digest))

    async def unlink_blob(self, repo: str, digest: str) -> bool:
        async with self.db.write() as conn, conn.execute(
                "DELETE FROM registry_repo_blobs WHERE repo = ? AND digest = ?",
                (repo, digest)) as cur:
            return cur.rowcount > 0

    async def all_blob_digests(self) -> set[str]:
        return {r[0] for r in await self.db.fetchall("SELECT digest FROM registry_blobs")}

    # uploads ------------------------------------------------------------------------------
    async def create_upload(self, uuid: str, repo: str) -> UploadRecord:
        now = time.time()
        async with self.db.write() as conn:
            await conn.execute(
                "INSERT OR IGNORE INTO registry_repositories (name, created_at) VALUES (?, ?)",
                (repo, now))
            await conn.execute(
                "INSERT INTO registry_uploads (uuid, repo, received, created_at, updated_at)"
                " VALUES (?, ?, 0, ?, ?)", (uuid, repo, now, now))
        return UploadRecord(uuid, repo, 0, now, now)

    async def upload(self, uuid: str) -> UploadRecord | None:
        row = await self.db.fetchone("SELECT * FROM registry_uploads WHERE uuid = ?", (uuid,))
        return None if row is None else UploadRecord(**dict(row))

    async def upload_progress(self, uuid: str, received: int) -> None:
        await self.db.execute(
            "UPDATE registry_uploads SET received = ?, updated_at = ? WHERE uuid = ?",
            (received, time.time(), uuid))

    async def delete_upload(self, uuid: str) -> bool:
        async with self.db.write() as conn, conn.execute(
                "DELETE FROM registry_uploads WHERE uuid = ?", (uuid,)) as cur:
            return cur.rowcount > 0

    async def stale_uploads(self, idle_before: float) -> list[UploadRecord]:
        rows = await self.db.fetchall(
            "SELECT * FROM registry_uploads WHERE updated_at < ?", (idle_before,))
        return [UploadRecord(**dict(r)) for r in rows]

    async def upload_ids(self) -> set[str]:
        return {r[0] for r in await self.db.fetchall("SELECT uuid FROM registry_uploads")}

    # manifests ----------------------------------------------------------------------------
    async def missing_refs(self, repo: str, blobs: Sequence[str],
                           manifests: Sequence[str]) -> list[str]:
        """Those of the named blobs and child manifests the repository does not have."""
        missing = []
        for digest in dict.fromkeys(blobs):
            if await self.linked_blob(repo, digest) is None:
                missing.append(digest)
        for digest in dict.fromkeys(manifests):
            if await self.manifest(repo, digest) is None:
                missing.append(digest)
        return missing

    async def put_manifest(self, record: ManifestRecord, tag: str | None,
                           blobs: Iterable[str], children: Iterable[str]) -> None:
        """Record a manifest, what it names, and point `tag` at it, in one transaction."""
        now = record.pushed_at or time.time()
        refs = [(record.repo, record.digest, d, "blob") for d in set(blobs)]
        refs += [(record.repo, record.digest, d, "manifest") for d in set(children)]
        async with self.db.write() as conn:
            await conn.execute(
                "INSERT OR IGNORE INTO registry_repositories (name, created_at) VALUES (?, ?)",
                (record.repo, now))
            await conn.execute(
                "INSERT INTO registry_blobs (digest, size, created_at) VALUES (?, ?, ?)"
                " ON CONFLICT (digest) DO UPDATE SET created_at = excluded.created_at",
                (record.digest, record.size, now))
            await conn.execute(
                "INSERT INTO registry_manifests (repo, digest, media_type, size, artifact_type,"
                " subject, annotations, pushed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (repo, digest) DO UPDATE SET pushed_at = excluded.pushed_at",
                (record.repo, record.digest, record.media_type, record.size,
                 record.artifact_type, record.subject,
                 jsonio.dumps(record.annotations or {}), now))
            await conn.executemany(
                "INSERT OR IGNORE INTO registry_manifest_refs (repo, manifest, child, kind)"
                " VALUES (?, ?, ?, ?)", refs)
            if tag is not None:
                await conn.execute(
                    "INSERT INTO registry_tags (repo, tag, digest, updated_at) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (repo, tag) DO UPDATE SET digest = excluded.digest,"
                    " updated_at = excluded.updated_at", (record.repo, tag, record.digest, now))

    async def manifest(self, repo: str, digest: str) -> ManifestRecord | None:
        row = await self.db.fetchone(
            "SELECT * FROM registry_manifests WHERE repo = ? AND digest = ?", (repo, digest))
        return None if row is None else ManifestRecord.from_row(row)

    async def resolve_tag(self, repo: str, tag: str) -> str | None:
        row = await self.db.fetchone(
            "SELECT digest FROM registry_tags WHERE repo = ? AND tag = ?", (repo, tag))
        return None if row is None else str(row[0])

    async def delete_manifest(self, repo: str, digest: str) -> bool:
        """Remove a manifest and every tag pointing at it."""
        async with self.db.write() as conn, conn.execute(
                "DELETE FROM registry_manifests WHERE repo = ? AND digest = ?",
                (repo, digest)) as cur:
            return cur.rowcount > 0

    async def delete_tag(self, repo: str, tag: str) -> bool:
        async with self.db.write() as conn, conn.execute(
                "DELETE FROM registry_tags WHERE repo = ? AND tag = ?", (repo, tag)) as cur:
            return cur.rowcount > 0

    async def tag_names(self, repo: str, n: int | None = None, last: str = "") -> list[str]:
        rows = await self.db.fetchall(
            "SELECT tag FROM registry_tags WHERE repo = ? AND tag > ? ORDER BY tag LIMIT ?",
            (repo, last, -1 if n is None else n))
        return [r[0] for r in rows]

    async def tags(self, repo: str, *, after: str = "", limit: int = -1) -> list[TagRecord]:
        rows = await self.db.fetchall(
            "SELECT t.tag, t.digest, m.media_type, m.size, m.pushed_at, m.build_id, m.git_commit"
            " FROM registry_tags t JOIN registry_manifests m"
            " ON m.repo = t.repo AND m.digest = t.digest WHERE t.repo = ? AND t.tag > ?"
            " ORDER BY t.tag LIMIT ?",
            (repo, after, limit))
        return [TagRecord(*r) for r in rows]

    async def referrers(self, repo: str, subject: str,
                        artifact_type: str | None = None) -> list[ManifestRecord]:
        sql = "SELECT * FROM registry_manifests WHERE repo = ? AND subject = ?"
        params: list[Any] = [repo, subject]
        if artifact_type is not None:
            sql += " AND artifact_type = ?"
            params.append(artifact_type)
        rows = await self.db.fetchall(sql + " ORDER BY digest", params)
        return [ManifestRecord.from_row(r) for r in rows]

    async def link_build(self, repo: str, digest: str, build_id: int, commit: str) -> bool:
        """Note which build (and git commit) produced this manifest; False if it is unknown."""
        async with self.db.write() as conn, conn.execute(
                "UPDATE registry_manifests SET build_id = ?, git_commit = ?"
                " WHERE repo = ? AND digest = ?", (build_id, commit, repo, digest)) as cur:
            return cur.rowcount > 0

    # garbage collection -------------------------------------------------------------------
    async def manifest_graph(self) -> tuple[list[tuple[str, str, float, str]],
                                            list[tuple[str, str]], list[tuple[str, str, str]]]:
        """(repo, digest, pushed_at, subject) of manifests, (repo, digest) of tags, and
        (repo, manifest, child) index edges: what GC needs to find untagged manifests."""
        manifests = [(r[0], r[1], r[2], r[3]) for r in await self.db.fetchall(
            "SELECT repo, digest, pushed_at, subject FROM registry_manifests")]
        tags = [(r[0], r[1]) for r in await self.db.fetchall(
            "SELECT repo, digest FROM registry_tags")]
        edges = [(r[0], r[1], r[2]) for r in await self.db.fetchall(
            "SELECT repo, manifest, child FROM registry_manifest_refs WHERE kind = 'manifest'")]
        return manifests, tags, edges

    async def sweep(self, cutoff: float, manifests: Sequence[tuple[str, str]]) -> SweepResult:
        """In one transaction: drop the given manifests, blob links older than `cutoff` that no
        manifest of their repository names, then blobs older than `cutoff` nothing uses."""
        async with self.db.write() as conn:
            dropped = []
            for repo, digest in manifests:
                async with conn.execute(
                        "DELETE FROM registry_manifests WHERE repo = ? AND digest = ?"
                        " AND pushed_at < ?", (repo, digest, cutoff)) as cur:
                    if cur.rowcount:
                        dropped.append((repo, digest))
            async with conn.execute(_UNLINK_UNUSED, (cutoff,)) as cur:
                unlinked = cur.rowcount
            async with conn.execute(_DELETE_UNUSED, (cutoff,)) as cur:
                blobs = [BlobRecord(r[0], r[1]) for r in await cur.fetchall()]
            await conn.execute(_DELETE_EMPTY_REPOS, (cutoff,))
        return SweepResult(unlinked, dropped, blobs)
