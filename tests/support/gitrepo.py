"""Real git repositories made by the tests: a Dockerfile FROM scratch with busybox, commits."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.images import BUSYBOX, DOCKERFILE

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Ada Tester", "GIT_AUTHOR_EMAIL": "ada@example.test",
    "GIT_COMMITTER_NAME": "Ada Tester", "GIT_COMMITTER_EMAIL": "ada@example.test",
    "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent",
}


@dataclass
class GitRepo:
    path: Path

    @property
    def url(self) -> str:
        return f"file://{self.path}"

    def git(self, *args: str) -> str:
        env = {**os.environ, **GIT_ENV}
        out = subprocess.run(["git", "-C", str(self.path), *args], env=env, check=True,
                             capture_output=True, text=True, timeout=60)
        return out.stdout.strip()

    def write(self, name: str, text: str | bytes) -> None:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            target.write_bytes(text)
        else:
            target.write_text(text)

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")


def make_repo(folder: Path, dockerfile_extra: str = "", branch: str = "main") -> GitRepo:
    """A repository whose first commit builds a busybox image FROM scratch."""
    folder.mkdir(parents=True, exist_ok=True)
    repo = GitRepo(folder)
    repo.git("init", "-q", "-b", branch)
    shutil.copy2(BUSYBOX, folder / "busybox")
    repo.write("Dockerfile", DOCKERFILE + dockerfile_extra)
    repo.write("version.txt", "1\n")
    repo.commit("First version")
    return repo
