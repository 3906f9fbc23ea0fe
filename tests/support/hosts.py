"""Real servers for tests: network namespaces on a test bridge, each with its own sshd and dockerd.

A `HostLab` owns one *slot* (0..15), held by an flock so that test runs going on at the same time
on this machine never share names or addresses. Slot K uses:

    bridge   c66t{K}br      10.213.K.1/24  (in the root namespace; c66d connects from here)
    host i   netns c66t{K}h{i}, veth c66t{K}h{i}v <-> eth0 at 10.213.K.(10+i)/24
             sshd on port 22 of that address; dockerd with --bip 172.30.(8K+i).1/24 and its
             socket at /tmp/c66d-test-hosts/slot-K/h{i}/docker.sock

All addresses are ones this harness creates; there is no default route out of a namespace.
The filesystem is shared, so each host has its own docker socket path (its `docker_socket`), and
its sshd sets DOCKER_HOST so `docker ...` run over SSH talks to the host's own engine. sshd (and so
every SSH session) also runs in a mount namespace of the host's own, where /etc/nginx,
/var/log/nginx, /var/lib/nginx and /run are per-host copies (h{i}/etc-nginx, ... on this side):
nginx configured and started over SSH on one host is invisible to the others.
Leftovers of a run that was killed are cleaned when the slot is taken again.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest
from aiohttp.test_utils import TestClient

from tests.support.http import ADMIN

ROOT = Path("/tmp/c66d-test-hosts")
SLOTS = 16
MAX_HOSTS = 7
NETNS_DIR = Path("/var/run/netns")
SSHD = "/usr/sbin/sshd"


def _sh(*argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and out.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} exited {out.returncode}: {out.stderr.strip()}")
    return out


def _need(binary: str) -> str:
    found = shutil.which(binary) or (binary if Path(binary).exists() else None)
    if not found:
        pytest.fail(f"{binary} is not installed; run scripts/install")
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _wait_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    left = [p for p in pids if _alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if _alive(p)]
    return left


def _kill(pids: list[int], sig: signal.Signals = signal.SIGKILL) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _netns_pids(netns: str) -> list[int]:
    out = _sh("ip", "netns", "pids", netns, check=False)
    return [int(x) for x in out.stdout.split()] if out.returncode == 0 else []


def _processes_mentioning(text: str) -> list[int]:
    """Pids whose command line names `text` (containerd shims of our engines), with children."""
    found: set[int] = set()
    parents: dict[int, int] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            parents[int(proc.name)] = int((proc / "stat").read_text().split(")")[-1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if text in cmdline and int(proc.name) != os.getpid():
            found.add(int(proc.name))
    grew = True
    while grew:
        children = {pid for pid, ppid in parents.items() if ppid in found} - found
        grew = bool(children)
        found |= children
    return sorted(found)


@dataclass
class Host:
    """One test server: a namespace with sshd, dockerd and nginx available."""

    lab: HostLab
    index: int
    name: str
    netns: str
    veth: str
    address: str
    bip: str
    dir: Path
    port: int = 22
    user: str = "root"
    _sshd: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _dockerd: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def docker_socket(self) -> str:
        return str(self.dir / "docker.sock")

    @property
    def docker_url(self) -> str:
        return f"unix://{self.docker_socket}"

    @property
    def host_key_path(self) -> Path:
        return self.dir / "ssh_host_ed25519_key"

    @property
    def authorized_keys(self) -> Path:
        return self.dir / "authorized_keys"

    @property
    def nginx(self) -> str:
        """Path of the nginx binary the rollout engine configures on this host."""
        return _need("nginx")

    def server_spec(self, name: str | None = None) -> dict[str, object]:
        """The body of `POST /api/v1/servers` that adds this host."""
        return {"name": name or self.name, "address": self.address, "port": self.port,
                "user": self.user, "docker_socket": self.docker_socket}

    @property
    def mount_ns(self) -> Path:
        return self.dir / "ns" / "mnt"

    def nsenter_net(self, *argv: str) -> list[str]:
        """argv that runs in this host's network namespace (not `ip netns exec`)."""
        return ["nsenter", f"--net={NETNS_DIR / self.netns}", *argv]

    def nsenter(self, *argv: str) -> list[str]:
        """argv that runs as on this host: its network namespace and its own /etc/nginx,
        /var/log/nginx, /var/lib/nginx and /run (what SSH sessions on the host see)."""
        return ["nsenter", f"--net={NETNS_DIR / self.netns}", f"--mount={self.mount_ns}", *argv]

    def make_mount_ns(self) -> None:
        """A persistent mount namespace with per-host copies of nginx's folders and /run, so
        hosts sharing this machine's filesystem do not share nginx configuration or pid files."""
        ns = self.mount_ns.parent
        ns.mkdir()
        _sh("mount", "--bind", str(ns), str(ns))
        _sh("mount", "--make-private", str(ns))
        self.mount_ns.touch()
        _sh("unshare", f"--mount={self.mount_ns}", "--propagation", "private", "true")
        binds = {"/etc/nginx": "etc-nginx", "/var/log/nginx": "log-nginx",
                 "/var/lib/nginx": "lib-nginx", "/run": "run"}
        for target, name in binds.items():
            source = self.dir / name
            if Path(target).is_dir() and target != "/run":
                shutil.copytree(target, source, symlinks=True)
            source.mkdir(exist_ok=True)
        (self.dir / "run" / "sshd").mkdir(mode=0o755)
        script = " && ".join(f"mount --bind {shlex.quote(str(self.dir / name))} {target}"
                             for target, name in binds.items())
        _sh("nsenter", f"--mount={self.mount_ns}", "sh", "-c", script)

    def run(self, *argv: str, check: bool = True,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return _sh(*self.nsenter(*argv), check=check, timeout=timeout)

    def docker(self, *args: str, check: bool = True,
               timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """The docker CLI against this host's engine."""
        return _sh("docker", "-H", self.docker_url, *args, check=check, timeout=timeout)

    def load_image(self, tag: str) -> None:
        """Copy an image of the local engine into this host's engine (docker save | load)."""
        if self.docker("image", "inspect", tag, check=False).returncode == 0:
            return
        save = subprocess.Popen(["docker", "save", tag], stdout=subprocess.PIPE)
        load = subprocess.run(["docker", "-H", self.docker_url, "load"], stdin=save.stdout,
                              capture_output=True, text=True, timeout=120)
        assert save.stdout is not None
        save.stdout.close()
        if save.wait(timeout=120) != 0 or load.returncode != 0:
            raise RuntimeError(f"loading {tag} into {self.name} failed: {load.stderr}")

    def authorize(self, public_key: str) -> None:
        """Let a client key log in as root (c66d's key: GET /api/v1/servers/key)."""
        lines = self.authorized_keys.read_text().splitlines() if self.authorized_keys.exists() \
            else []
        if public_key.strip() not in lines:
            lines.append(public_key.strip())
            self.authorized_keys.write_text("\n".join(lines) + "\n")

    def host_key_fingerprint(self) -> str:
        out = _sh("ssh-keygen", "-l", "-E", "sha256", "-f", str(self.host_key_path))
        return out.stdout.split()[1]

    # --- lifetimes -------------------------------------------------------------------------

    def write_sshd_config(self) -> Path:
        config = self.dir / "sshd_config"
        config.write_text("\n".join([
            "Port 22", f"ListenAddress {self.address}", f"HostKey {self.host_key_path}",
            "PermitRootLogin prohibit-password", "StrictModes no",
            f"AuthorizedKeysFile {self.authorized_keys}", f"PidFile {self.dir / 'sshd.pid'}",
            "UsePAM no", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "AllowTcpForwarding yes", "AllowStreamLocalForwarding yes", "GatewayPorts no",
            "ClientAliveInterval 2", "ClientAliveCountMax 2", "MaxStartups 100", "MaxSessions 100",
            f"SetEnv DOCKER_HOST={self.docker_url}", "",
        ]))
        return config

    def regenerate_host_key(self) -> str:
        """A new host key (as if the server was reinstalled); restarts sshd. Returns SHA256:..."""
        self.host_key_path.unlink(missing_ok=True)
        Path(f"{self.host_key_path}.pub").unlink(missing_ok=True)
        _sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", self.name,
            "-f", str(self.host_key_path))
        if self._sshd is not None:
            self.stop_sshd()
            self.start_sshd()
        return self.host_key_fingerprint()

    def start_sshd(self) -> None:
        if self._sshd is not None and self._sshd.poll() is None:
            return
        log = (self.dir / "sshd.log").open("ab")
        self._sshd = subprocess.Popen(
            self.nsenter(SSHD, "-D", "-e", "-f", str(self.write_sshd_config())),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self._wait_port(22, what="sshd")

    def stop_sshd(self) -> None:
        """Stop the daemon (existing sessions go with it, as the process group is killed)."""
        if self._sshd is None:
            return
        pid = self._sshd.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        # Session processes forked per connection live in the same namespace; end ours.
        _kill([p for p in _netns_pids(self.netns) if self._is_sshd(p)])
        self._sshd.wait(timeout=10)
        self._sshd = None

    @staticmethod
    def _is_sshd(pid: int) -> bool:
        return _comm(pid) == "sshd"

    def start_dockerd(self) -> None:
        log = (self.dir / "dockerd.log").open("ab")
        self._dockerd = subprocess.Popen(
            self.nsenter_net("dockerd", "--data-root", str(self.dir / "docker"),
                         "--exec-root", str(self.dir / "exec"),
                         "--pidfile", str(self.dir / "dockerd.pid"),
                         "-H", self.docker_url, "--bip", self.bip),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def wait_dockerd(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._dockerd is not None and self._dockerd.poll() is not None:
                break
            if self.docker("version", check=False, timeout=10).returncode == 0:
                return
            time.sleep(0.1)
        tail = (self.dir / "dockerd.log").read_text()[-2000:]
        pytest.fail(f"dockerd of test host {self.name} did not start:\n{tail}")

    def _wait_port(self, port: int, *, what: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        probe = f"exec 3<>/dev/tcp/{self.address}/{port}"
        while time.monotonic() < deadline:
            if _sh("bash", "-c", probe, check=False, timeout=5).returncode == 0:
                return
            time.sleep(0.05)
        pytest.fail(f"{what} of test host {self.name} does not listen on {self.address}:{port}")

    def cut_off(self) -> None:
        """Take the host's link down: packets are dropped, connections hang (no RST)."""
        _sh("ip", "link", "set", self.veth, "down")

    def reconnect(self) -> None:
        _sh("ip", "link", "set", self.veth, "up")

    def heal(self) -> None:
        """Back to a healthy, empty host after a test broke something on purpose."""
        self.reconnect()
        self.start_sshd()
        self.remove_containers()
        self.stop_nginx()

    def stop_nginx(self) -> None:
        """End nginx processes a test started on this host (its config files stay)."""
        _kill([p for p in _netns_pids(self.netns) if _comm(p) == "nginx"])

    def remove_containers(self) -> None:
        ids = self.docker("ps", "-aq", check=False, timeout=20).stdout.split()
        if ids:
            self.docker("rm", "-f", *ids, check=False, timeout=60)


class HostLab:
    """Up to MAX_HOSTS hosts in one slot; started lazily, torn down by `close()`."""

    def __init__(self) -> None:
        for tool in ("ip", "nsenter", "unshare", "dockerd", "docker", "ssh-keygen", SSHD, "nginx"):
            _need(tool)
        ROOT.mkdir(parents=True, exist_ok=True)
        self.slot, self._lock = self._take_slot()
        self.dir = ROOT / f"slot-{self.slot}"
        self.bridge = f"c66t{self.slot}br"
        self.gateway = f"10.213.{self.slot}.1"
        self.hosts: list[Host] = []
        cleanup_slot(self.slot)
        self.dir.mkdir(parents=True)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        _sh("ip", "link", "add", self.bridge, "type", "bridge")
        _sh("ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _sh("ip", "link", "set", self.bridge, "up")
        _sh(*forward_rule("-I", self.bridge))

    @staticmethod
    def _take_slot() -> tuple[int, IO[str]]:
        for slot in range(SLOTS):
            handle = (ROOT / f"slot-{slot}.lock").open("a+")
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            return slot, handle
        pytest.fail(f"all {SLOTS} test host slots are in use by other test runs")

    def get(self, count: int) -> list[Host]:
        """The first `count` hosts, starting the ones not running yet (in parallel)."""
        if count > MAX_HOSTS:
            raise ValueError(f"at most {MAX_HOSTS} test hosts")
        new = [self._make(i) for i in range(len(self.hosts) + 1, count + 1)]
        for host in new:
            host.start_dockerd()
        for host in new:
            host.start_sshd()
        for host in new:
            host.wait_dockerd()
        self.hosts.extend(new)
        return self.hosts[:count]

    def _make(self, index: int) -> Host:
        netns, veth = f"c66t{self.slot}h{index}", f"c66t{self.slot}h{index}v"
        host = Host(self, index, f"host{index}", netns, veth, f"10.213.{self.slot}.{10 + index}",
                    f"172.30.{self.slot * 8 + index}.1/24", self.dir / f"h{index}")
        host.dir.mkdir(parents=True)
        _sh("ip", "netns", "add", netns)
        _sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns)
        _sh("ip", "link", "set", veth, "master", self.bridge, "up")
        _sh(*host.nsenter_net("ip", "addr", "add", f"{host.address}/24", "dev", "eth0"))
        _sh(*host.nsenter_net("ip", "link", "set", "eth0", "up"))
        _sh(*host.nsenter_net("ip", "link", "set", "lo", "up"))
        host.make_mount_ns()
        _sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", host.name,
            "-f", str(host.host_key_path))
        host.authorized_keys.write_text("")
        return host

    def close(self) -> None:
        for host in self.hosts:
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                host.remove_containers()
            if host._dockerd is not None and host._dockerd.poll() is None:
                host._dockerd.terminate()
        for host in self.hosts:
            if host._dockerd is not None:
                try:
                    host._dockerd.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    host._dockerd.kill()
                    host._dockerd.wait()
            host.stop_sshd()
        cleanup_slot(self.slot)
        self._lock.close()


def forward_rule(verb: str, bridge: str) -> list[str]:
    """Hosts talk to each other across the test bridge: Docker's FORWARD policy (DROP) in the
    root namespace also sees bridged packets (br_netfilter), e.g. the hosts' WireGuard mesh."""
    return ["iptables", "-w", "5", verb, "FORWARD", "-i", bridge, "-o", bridge, "-j", "ACCEPT"]


def cleanup_slot(slot: int) -> None:
    """Remove whatever slot `slot` left behind: processes, mounts, namespaces, links, files."""
    prefix = f"c66t{slot}h"
    names = [p.name for p in NETNS_DIR.iterdir()] if NETNS_DIR.exists() else []
    ours = [n for n in names if n.startswith(prefix) and n[len(prefix):].isdigit()]
    slot_dir = ROOT / f"slot-{slot}"
    pids = [p for n in ours for p in _netns_pids(n)] + _processes_mentioning(f"{slot_dir}/")
    _kill(pids)
    left = _wait_gone(pids, 10)
    if left:
        raise RuntimeError(f"test host processes {left} of slot {slot} do not die")
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(f"{slot_dir}/")), reverse=True):
        _sh("umount", "-l", mount, check=False)
    for name in ours:
        _sh("ip", "netns", "del", name, check=False)
    links = _sh("ip", "-o", "link", "show").stdout
    for line in links.splitlines():
        link = line.split(":")[1].strip().split("@")[0]
        if link == f"c66t{slot}br":
            for _ in range(10):  # every copy an interrupted run may have left
                if _sh(*forward_rule("-D", link), check=False).returncode != 0:
                    break
        if link == f"c66t{slot}br" or (link.startswith(prefix) and link.endswith("v")):
            _sh("ip", "link", "del", link, check=False)
    shutil.rmtree(slot_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def host_lab() -> Iterator[HostLab]:
    """The session's test servers; `host_lab.get(n)` starts (once) and returns the first n."""
    lab = HostLab()
    try:
        yield lab
    finally:
        lab.close()


@pytest.fixture
def hosts(host_lab: HostLab) -> Iterator[list[Host]]:
    """Two healthy, empty test servers; healed again after the test whatever it broke."""
    got = host_lab.get(2)
    for host in got:
        host.heal()
    yield got
    for host in got:
        host.heal()


# --- driving c66d's servers API against these hosts -------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def add_server(client: TestClient[Any, Any], host: Host, name: str | None = None,
                     headers: dict[str, str] | None = None) -> dict[str, Any]:
    """Authorize c66d's public key on the host, then add it with POST /api/v1/servers."""
    admin = headers or ADMIN
    resp = await client.get("/api/v1/servers/key", headers=admin)
    assert resp.status == 200, await resp.text()
    host.authorize((await resp.json())["public_key"])
    resp = await client.post("/api/v1/servers", json=host.server_spec(name), headers=admin)
    assert resp.status == 201, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def wait_server(client: TestClient[Any, Any], name: str, state: str,
                      timeout: float = 30.0, **expected: Any) -> dict[str, Any]:
    """Poll GET /api/v1/servers/NAME until its state is `state` (and fields match)."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        resp = await client.get(f"/api/v1/servers/{name}", headers=ADMIN)
        body = await resp.json()
        if body.get("state") == state and all(body.get(k) == v for k, v in expected.items()):
            return body
        await asyncio.sleep(0.1)
    pytest.fail(f"server {name} did not become {state} {expected or ''} in {timeout}s: {body}")


@pytest.fixture
def three_hosts(host_lab: HostLab) -> Iterator[list[Host]]:
    """Like `hosts`, with three."""
    got = host_lab.get(3)
    for host in got:
        host.heal()
    yield got
    for host in got:
        host.heal()
