"""Upload sessions: bytes stream to a temp file, hashed as they arrive, recorded in the store.

Request bodies are never held whole: chunks are gathered up to BATCH bytes and handed to a
worker thread that hashes and writes them while the event loop reads the next batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import uuid as uuidlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from c66d.logs import get_logger
from c66d.registry.blobs import BlobStore
from c66d.registry.errors import BlobUploadUnknown, DigestInvalid, RangeInvalid
from c66d.store.registry import BlobRecord, RegistryStore

log = get_logger("c66d.registry.uploads")

BATCH = 1 << 20
HASH_READ = 4 << 20


class ByteStream(Protocol):
    async def readany(self) -> bytes: ...


# Makes a verified temp file visible as a blob: (temp path, digest, size).
Commit = Callable[[Path, str, int], Awaitable[None]]


def _write_hash(fd: int, data: bytes, offset: int, hasher: Any) -> None:
    hasher.update(data)
    view = memoryview(data)
    while view:
        done = os.pwrite(fd, view, offset)
        view = view[done:]
        offset += done


async def pump(stream: ByteStream, fd: int, offset: int, hasher: Any) -> int:
    """Copy `stream` into `fd` from `offset`, updating `hasher`; returns the bytes written.
    At most two batches are in memory: one being written, one being read."""
    loop = asyncio.get_running_loop()
    pending: asyncio.Future[None] | None = None
    parts: list[bytes] = []
    buffered = written = 0
    try:
        while True:
            chunk = await stream.readany()
            if chunk:
                parts.append(chunk)
                buffered += len(chunk)
            if buffered and (buffered >= BATCH or not chunk):
                data = b"".join(parts)
                parts.clear()
                buffered = 0
                if pending is not None:
                    await pending
                pending = loop.run_in_executor(None, _write_hash, fd, data, offset + written,
                                               hasher)
                written += len(data)
            if not chunk:
                break
    finally:
        if pending is not None:
            await pending
    return written


def _rehash(path: Path, length: int) -> Any:
    """The sha256 state of the first `length` bytes of `path` (file cut back to `length`)."""
    hasher = hashlib.sha256()
    with open(path, "r+b") as handle:
        handle.truncate(length)
        while block := handle.read(HASH_READ):
            hasher.update(block)
    return hasher


@dataclass
class Session:
    uuid: str
    repo: str
    path: Path
    hasher: Any
    received: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def range_header(self) -> str:
        return f"0-{max(self.received - 1, 0)}"


class Uploads:
    """Open upload sessions; their progress is in the store so they survive a restart."""

    def __init__(self, store: RegistryStore, blobs: BlobStore) -> None:
        self.store = store
        self.blobs = blobs
        self._live: dict[str, Session] = {}

    async def start(self, repo: str) -> Session:
        upload_id = str(uuidlib.uuid4())
        path = self.blobs.upload_path(upload_id)
        await asyncio.to_thread(path.touch)
        await self.store.create_upload(upload_id, repo)
        session = Session(upload_id, repo, path, hashlib.sha256())
        self._live[upload_id] = session
        return session

    async def get(self, repo: str, upload_id: str) -> Session:
        session = self._live.get(upload_id)
        if session is not None and session.repo == repo:
            return session
        record = await self.store.upload(upload_id)
        if record is None or record.repo != repo:
            raise BlobUploadUnknown(f"no upload {upload_id[:64]!r} in {repo}")
        path = self.blobs.upload_path(upload_id)
        try:
            on_disk = (await asyncio.to_thread(path.stat)).st_size
        except FileNotFoundError:
            on_disk = -1
        if on_disk < record.received:  # the bytes we acknowledged are gone: start over
            await self._drop(upload_id, path)
            raise BlobUploadUnknown(f"upload {upload_id} was lost; start a new one")
        hasher = await asyncio.to_thread(_rehash, path, record.received)
        session = self._live.setdefault(
            upload_id, Session(upload_id, repo, path, hasher, record.received))
        return session

    async def append(self, session: Session, stream: ByteStream, start: int | None = None,
                     length: int | None = None) -> int:
        """Add a chunk; `start`/`length` from Content-Range must continue the upload exactly."""
        async with session.lock:
            if session.uuid not in self._live:
                raise BlobUploadUnknown(f"upload {session.uuid} is finished or cancelled")
            return await self._append(session, stream, start, length)

    async def _append(self, session: Session, stream: ByteStream, start: int | None,
                      length: int | None) -> int:
        if start is not None and start != session.received:
            raise RangeInvalid(
                f"chunk starts at {start} but the upload has {session.received} bytes",
                headers=self.headers(session))
        before, snapshot = session.received, session.hasher.copy()
        fd = await asyncio.to_thread(os.open, session.path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            written = await pump(stream, fd, before, session.hasher)
            if length is not None and written != length:
                raise RangeInvalid(f"Content-Range announced {length} bytes, got {written}",
                                   headers=self.headers(session))
        except BaseException:
            session.hasher = snapshot
            await asyncio.to_thread(os.ftruncate, fd, before)
            raise
        finally:
            await asyncio.to_thread(os.close, fd)
        session.received = before + written
        if written:
            await self.store.upload_progress(session.uuid, session.received)
        return written

    async def finish(self, session: Session, digest: str, stream: ByteStream, commit: Commit,
                     start: int | None = None, length: int | None = None) -> BlobRecord:
        """Take the last chunk, verify the digest, then `commit(temp, digest, size)`.
        A mismatch cancels the upload: nothing of it stays."""
        async with session.lock:
            if session.uuid not in self._live:
                raise BlobUploadUnknown(f"upload {session.uuid} is finished or cancelled")
            await self._append(session, stream, start, length)
            actual = "sha256:" + session.hasher.hexdigest()
            if actual != digest:
                await self._drop(session.uuid, session.path)
                raise DigestInvalid(f"uploaded content has digest {actual}, not {digest}",
                                    detail={"expected": digest, "actual": actual})
            await commit(session.path, digest, session.received)
            await self._drop(session.uuid, session.path)
            return BlobRecord(digest, session.received)

    async def cancel(self, session: Session) -> None:
        async with session.lock:
            await self._drop(session.uuid, session.path)

    async def _drop(self, upload_id: str, path: Path) -> None:
        self._live.pop(upload_id, None)
        await self.store.delete_upload(upload_id)
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(path.unlink)

    async def expire(self, idle_before: float) -> int:
        """Drop uploads untouched since `idle_before`; returns how many."""
        stale = await self.store.stale_uploads(idle_before)
        for record in stale:
            session = self._live.get(record.uuid)
            if session is not None and session.lock.locked():
                continue  # bytes are arriving right now
            await self._drop(record.uuid, self.blobs.upload_path(record.uuid))
            log.info("expired upload %s in %s (%d bytes)", record.uuid, record.repo,
                     record.received)
        return len(stale)

    def headers(self, session: Session) -> dict[str, str]:
        return {"Location": f"/v2/{session.repo}/blobs/uploads/{session.uuid}",
                "Range": session.range_header(), "Docker-Upload-UUID": session.uuid}


async def upload_whole(blobs: BlobStore, stream: ByteStream, digest: str,
                       commit: Commit) -> BlobRecord:
    """A monolithic upload (POST ?digest= with the body): temp file, verify, commit."""
    temp = blobs.new_temp()
    hasher = hashlib.sha256()
    fd = await asyncio.to_thread(os.open, temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            size = await pump(stream, fd, 0, hasher)
        finally:
            await asyncio.to_thread(os.close, fd)
        actual = "sha256:" + hasher.hexdigest()
        if actual != digest:
            raise DigestInvalid(f"uploaded content has digest {actual}, not {digest}",
                                detail={"expected": digest, "actual": actual})
        await commit(temp, digest, size)
        return BlobRecord(digest, size)
    finally:
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(temp.unlink)


def check_upload_id(upload_id: str) -> str:
    try:
        return str(uuidlib.UUID(upload_id))
    except ValueError:
        raise BlobUploadUnknown(f"no upload {upload_id[:64]!r}") from None
