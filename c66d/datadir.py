"""The data directory: its layout and the lock that keeps a second c66d out."""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from c66d.errors import DataDirLocked


@dataclass(frozen=True)
class DataDir:
    root: Path

    @property
    def database(self) -> Path:
        return self.root / "c66d.db"

    @property
    def blobs(self) -> Path:
        return self.root / "registry"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def builds(self) -> Path:
        return self.root / "builds"

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def lock_file(self) -> Path:
        return self.root / "c66d.lock"

    def create(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        for path in (self.blobs, self.logs, self.builds):
            path.mkdir(exist_ok=True)
        self.keys.mkdir(mode=0o700, exist_ok=True)


class DataDirLock:
    """An exclusive flock on `c66d.lock`, released when the process ends whatever happens."""

    def __init__(self, data_dir: DataDir) -> None:
        self.path = data_dir.lock_file
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115 - held for the process lifetime
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise DataDirLocked(
                f"data directory {self.path.parent} is in use by another c66d (pid {holder});"
                " stop it first or pick another --data-dir"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None
