"""Build logs: one file per build on disk, plus live followers while the build runs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from c66d.logs import SECRETS


class LiveLog:
    """An open build log: lines are appended to the file and handed to every follower."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: BinaryIO | None = open(path, "ab")  # noqa: SIM115 - closed in close()
        self._followers: set[asyncio.Queue[bytes | None]] = set()
        self.step = ""

    @property
    def open(self) -> bool:
        return self._file is not None

    def line(self, text: str) -> None:
        """Append one line (secrets redacted) and wake the followers."""
        if self._file is None:
            return
        data = (SECRETS.redact(text.rstrip("\n")) + "\n").encode("utf-8", "replace")
        self._file.write(data)
        self._file.flush()
        for queue in self._followers:
            queue.put_nowait(data)

    def mark(self, text: str) -> None:
        """A c66d line, told apart from tool output by its `==>` prefix and time."""
        now = time.time()
        self.line(f"==> {time.strftime('%H:%M:%S', time.localtime(now))}"
                  f".{int(now % 1 * 1000):03d} {text}")

    def follow(self) -> tuple[int, asyncio.Queue[bytes | None]]:
        """(bytes already on disk, queue of what comes next); `None` in the queue ends it."""
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        if self._file is None:
            queue.put_nowait(None)
            return self.path.stat().st_size, queue
        self._file.flush()
        self._followers.add(queue)
        return self._file.tell(), queue

    def unfollow(self, queue: asyncio.Queue[bytes | None]) -> None:
        self._followers.discard(queue)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        for queue in self._followers:
            queue.put_nowait(None)
        self._followers.clear()


def _read(path: Path, start: int = 0, end: int | None = None) -> bytes:
    try:
        with open(path, "rb") as handle:
            handle.seek(start)
            return handle.read() if end is None else handle.read(max(0, end - start))
    except FileNotFoundError:
        return b""


class BuildLogs:
    """Where build logs live, and the ones open right now."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.live: dict[int, LiveLog] = {}

    def path(self, build_id: int) -> Path:
        return self.folder / f"{build_id}.log"

    def open(self, build_id: int) -> LiveLog:
        log = LiveLog(self.path(build_id))
        self.live[build_id] = log
        return log

    def close(self, build_id: int) -> None:
        log = self.live.pop(build_id, None)
        if log is not None:
            log.close()

    def append(self, build_id: int, text: str) -> None:
        """A line for a build that is not running (e.g. why it was cancelled while queued)."""
        if build_id in self.live:
            self.live[build_id].mark(text)
            return
        log = LiveLog(self.path(build_id))
        log.mark(text)
        log.close()

    async def whole(self, build_id: int) -> bytes:
        return await asyncio.to_thread(_read, self.path(build_id))

    async def stream(self, build_id: int) -> AsyncIterator[bytes]:
        """Everything so far, then each new line until the build's log closes."""
        log = self.live.get(build_id)
        if log is None:
            yield await self.whole(build_id)
            return
        offset, queue = log.follow()
        try:
            yield await asyncio.to_thread(_read, log.path, 0, offset)
            while (data := await queue.get()) is not None:
                yield data
        finally:
            log.unfollow(queue)
