"""Test images built FROM scratch with Debian's static busybox (no registry needed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

BUSYBOX = Path("/bin/busybox")

DOCKERFILE = """FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
"""


def busybox_context(folder: Path, extra_dockerfile: str = "") -> Path:
    """A build context: Dockerfile + busybox, ready for `docker build`."""
    if not BUSYBOX.exists():
        raise RuntimeError("Debian's busybox-static is not installed (/bin/busybox missing)")
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, folder / "busybox")
    (folder / "Dockerfile").write_text(DOCKERFILE + extra_dockerfile)
    return folder


def docker_build(context: Path, tag: str) -> None:
    subprocess.run(["docker", "build", "-q", "-t", tag, str(context)], check=True,
                   capture_output=True, text=True, timeout=300)
