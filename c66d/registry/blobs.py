"""Blobs on disk: a content-addressed tree filled only by fsync + atomic rename.

Layout under DataDir.blobs: `sha256/ab/abcdef...` for verified content and `uploads/<id>` for
bytes still arriving (same filesystem, so the final rename is atomic). A file appears in the
tree whole and verified, or not at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from c66d.registry.errors import DigestInvalid


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tree = root / "sha256"
        self.uploads = root / "uploads"

    def create(self) -> None:
        self.tree.mkdir(parents=True, exist_ok=True)
        self.uploads.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        """Where a verified blob lives; `digest` must already be checked (names.check_digest)."""
        hexpart = digest.split(":", 1)[1]
        return self.tree / hexpart[:2] / hexpart

    def upload_path(self, upload_id: str) -> Path:
        return self.uploads / upload_id

    def new_temp(self) -> Path:
        return self.uploads / f"tmp-{secrets.token_hex(12)}"

    def size(self, digest: str) -> int | None:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            return None

    def _commit(self, temp: Path, digest: str) -> None:
        fd = os.open(temp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        final = self.path(digest)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp, final)  # same content if it was already there: replacing is harmless
        _fsync_dir(final.parent)

    async def commit(self, temp: Path, digest: str) -> None:
        """Make a verified temp file visible as `digest` (fsync, rename, fsync the folder)."""
        await asyncio.to_thread(self._commit, temp, digest)

    def _write(self, data: bytes, digest: str) -> None:
        temp = self.new_temp()
        with open(temp, "wb") as handle:
            handle.write(data)
        self._commit(temp, digest)

    async def write(self, data: bytes, digest: str) -> None:
        """Store small content (a manifest) whose digest the caller computed from `data`."""
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise DigestInvalid(f"content does not match {digest}")
        await asyncio.to_thread(self._write, data, digest)

    async def read(self, digest: str) -> bytes:
        return await asyncio.to_thread(self.path(digest).read_bytes)

    async def delete(self, digests: list[str]) -> int:
        """Remove blob files; returns the bytes freed."""
        return await asyncio.to_thread(self._delete, digests)

    def _delete(self, digests: list[str]) -> int:
        freed = 0
        for digest in digests:
            path = self.path(digest)
            with contextlib.suppress(FileNotFoundError):
                freed += path.stat().st_size
                path.unlink()
        return freed

    def files(self) -> Iterator[tuple[str, Path]]:
        """(digest, path) of every file in the tree."""
        if not self.tree.exists():
            return
        for folder in self.tree.iterdir():
            if folder.is_dir():
                for path in folder.iterdir():
                    yield "sha256:" + path.name, path

    def listing(self) -> list[tuple[str, Path]]:
        """(name, path) of every tree file (name = digest) and every upload temp file
        (name = file name). Runs in a thread."""
        found = list(self.files())
        if self.uploads.exists():
            found += [(p.name, p) for p in self.uploads.iterdir()]
        return found

    def remove_orphans(self, listing: list[tuple[str, Path]], keep: set[str],
                       older_than: float) -> int:
        """Remove listed files whose name is not in `keep` and that were last written before
        `older_than` (epoch seconds); returns bytes freed. Runs in a thread."""
        freed = 0
        for name, path in listing:
            if name in keep:
                continue
            with contextlib.suppress(FileNotFoundError):
                stat = path.stat()
                if stat.st_mtime < older_than:
                    path.unlink()
                    freed += stat.st_size
        return freed
