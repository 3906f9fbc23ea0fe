"""Run `c66d serve` as a subprocess, the way a user would."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

_HTTP = re.compile(r"http:\s+(http://[^/\s]+)/")
_DNS = re.compile(r"dns:\s+([\d.]+):(\d+)")


@dataclass
class C66dProcess:
    data_dir: Path
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[str] | None = None
    url: str = ""
    dns_port: int = 0
    output: list[str] = field(default_factory=list)

    def start(self, timeout: float = 20.0) -> C66dProcess:
        args = [sys.executable, "-m", "c66d", "serve", "--data-dir", str(self.data_dir),
                "--http", "127.0.0.1:0", "--dns", "127.0.0.1:0", *self.extra_args]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        self.output = []
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env=env)
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line)
            if m := _HTTP.search(line):
                self.url = m.group(1)
            if m := _DNS.search(line):
                self.dns_port = int(m.group(2))
            if "stop:" in line:
                return self
        self.kill()
        pytest.fail("c66d did not start:\n" + "".join(self.output))

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
            self.output.append(out or "")
            pytest.fail(f"c66d did not stop within {timeout}s after SIGTERM")
        self.output.append(out or "")
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()

    def text(self) -> str:
        return "".join(self.output)
