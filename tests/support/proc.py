"""Run `c66d serve` as a subprocess, the way a user would."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
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
    _reader: threading.Thread | None = None

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
                self._reader = threading.Thread(target=self._drain, daemon=True)
                self._reader.start()
                return self
        self.kill()
        pytest.fail("c66d did not start:\n" + "".join(self.output))

    def _drain(self) -> None:
        """Keep reading the server's output so a full pipe never stalls it."""
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)

    def _join_reader(self) -> None:
        if self._reader is not None:
            self._reader.join(timeout=5)
            self._reader = None

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self._join_reader()
            pytest.fail(f"c66d did not stop within {timeout}s after SIGTERM")
        self._join_reader()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._join_reader()

    def text(self) -> str:
        return "".join(self.output)
