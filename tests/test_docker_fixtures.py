"""The fixtures other subsystems stand on: a Docker engine and a busybox image FROM scratch."""

from __future__ import annotations

import subprocess


def test_busybox_image_runs(busybox_image: str) -> None:
    out = subprocess.run(["docker", "run", "--rm", busybox_image, "echo", "hello from scratch"],
                         capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "hello from scratch"
