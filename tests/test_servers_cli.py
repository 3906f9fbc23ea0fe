"""`c66d servers ...` against a `c66d serve` process and a namespace host, as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request

from tests.support.hosts import Host
from tests.support.http import ADMIN, ADMIN_PASSWORD
from tests.support.proc import C66dProcess


def _cli(proc: C66dProcess, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "C66D_URL": proc.url, "C66D_PASSWORD": ADMIN_PASSWORD}
    return subprocess.run([sys.executable, "-m", "c66d", "servers", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_servers_cli_adds_a_server_that_comes_up(c66d: C66dProcess, hosts: list[Host]) -> None:
    proc = c66d.start()
    host = hosts[0]
    key = _cli(proc, "key")
    assert key.returncode == 0 and key.stdout.startswith("ssh-ed25519 "), key.stderr
    host.authorize(key.stdout)
    added = _cli(proc, "add", "web1", host.address, "--docker-socket", host.docker_socket)
    assert added.returncode == 0, added.stderr
    assert f"server web1 added; c66d connects to root@{host.address}:22" in added.stdout

    state: dict[str, object] = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and state.get("state") != "up":  # poll the API: fast
        request = urllib.request.Request(f"{proc.url}/api/v1/servers/web1",
                                         headers=ADMIN)
        with urllib.request.urlopen(request, timeout=10) as resp:
            state = json.loads(resp.read())
        time.sleep(0.1)
    assert state.get("state") == "up", f"{state}\n{proc.text()}"
    listing = _cli(proc, "list").stdout.splitlines()
    assert listing[0].split() == ["NAME", "STATE", "WHERE", "DOCKER"]
    assert f"web1 up root@{host.address}:22 {state['docker_version']}".split() in \
        [line.split() for line in listing]

    removed = _cli(proc, "remove", "web1")
    assert removed.returncode == 0 and removed.stdout.strip() == "server web1 removed"
    assert proc.stop() == 0
