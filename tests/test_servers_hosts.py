"""The test-server harness itself: namespaces with their own sshd and Docker engine."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.hosts import Host, HostLab


def _ssh(host: Host, key: Path, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ssh", "-i", str(key), "-p", str(host.port), "-o", "BatchMode=yes",
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-o", "ConnectTimeout=5", f"{host.user}@{host.address}", command],
        capture_output=True, text=True, timeout=30)


def test_each_host_is_its_own_server(hosts: list[Host], tmp_path: Path,
                                     busybox_image: str) -> None:
    key = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    first, second = hosts
    assert first.address != second.address and first.docker_socket != second.docker_socket
    for host in hosts:
        host.authorize(Path(f"{key}.pub").read_text())
    first.load_image(busybox_image)
    first.docker("run", "-d", "--name", "only-on-first", busybox_image, "sleep", "60")

    # Over SSH, `docker` talks to the host's own engine, and the host sees its own address.
    on_first = _ssh(first, key, "docker ps --format '{{.Names}}'; ip -4 -o addr show eth0")
    on_second = _ssh(second, key, "docker ps --format '{{.Names}}'")
    assert on_first.returncode == 0, on_first.stderr
    assert "only-on-first" in on_first.stdout and first.address in on_first.stdout
    assert on_second.returncode == 0 and "only-on-first" not in on_second.stdout

    # Each host has its own nginx folders and /run: a config written on one is not on the other.
    conf = "server { listen 8081; location / { return 200 'first'; } }"
    wrote = _ssh(first, key, f"echo \"{conf}\" > /etc/nginx/conf.d/t.conf && nginx -t && nginx")
    assert wrote.returncode == 0, wrote.stderr
    assert (first.dir / "etc-nginx" / "conf.d" / "t.conf").exists()
    assert _ssh(second, key, "ls /etc/nginx/conf.d/ /run").stdout.split().count("t.conf") == 0
    assert "first" in first.run("busybox", "wget", "-qO-", "http://127.0.0.1:8081/").stdout
    assert second.run("busybox", "wget", "-qO-", "http://127.0.0.1:8081/",
                      check=False).returncode != 0
    assert _ssh(first, key, "nginx -s quit").returncode == 0


def test_host_lab_has_its_own_slot(host_lab: HostLab) -> None:
    host_lab.get(2)
    assert host_lab.dir.is_dir()
    assert Path(f"/var/run/netns/c66t{host_lab.slot}h1").exists()
