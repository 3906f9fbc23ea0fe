"""A ContainerNet range of its own for each test app, so test runs going on at the same time on
this machine never share a Docker network, a subnet, an interface or a UDP port.

Slot N (0..1023, held by an flock while the test runs) uses cluster range
10.(128 + N // 16).((N % 16) * 16).0/20 (fifteen /24 server subnets), `net_name` cnN (Docker
network cnN, bridge cnNbr, WireGuard interfaces cnNw*) and UDP port 52000 + N. Whatever a killed
run left on the local engine in that slot is removed when the slot is taken again.
"""

from __future__ import annotations

import fcntl
import random
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

ROOT = Path("/tmp/c66d-test-nets")
SLOTS = 1024


@dataclass
class NetSlot:
    number: int
    handle: IO[str]

    @property
    def cluster_range(self) -> str:
        return f"10.{128 + self.number // 16}.{(self.number % 16) * 16}.0/20"

    @property
    def net_name(self) -> str:
        return f"cn{self.number}"

    @property
    def net_port(self) -> int:
        return 52000 + self.number

    def release(self) -> None:
        remove_local_network(self.net_name)
        remove_local_overlay(self.net_name)
        self.handle.close()


def take_slot() -> NetSlot:
    ROOT.mkdir(parents=True, exist_ok=True)
    start = random.randrange(SLOTS)
    for step in range(SLOTS):
        number = (start + step) % SLOTS
        handle = (ROOT / f"slot-{number}.lock").open("a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        slot = NetSlot(number, handle)
        remove_local_network(slot.net_name)
        remove_local_overlay(slot.net_name)
        return slot
    pytest.fail("every ContainerNet test slot is in use")


def remove_local_overlay(name: str) -> None:
    """Overlay interfaces of this slot left in this machine's namespace (`{name}w*` WireGuard,
    whose wireguard-go ends with its interface; `{name}x*` VXLAN): a c66d killed with -9
    leaves its wireguard-go running, holding the slot's UDP port."""
    for link in Path("/sys/class/net").iterdir():
        if link.name.startswith((f"{name}w", f"{name}x")):
            subprocess.run(["ip", "link", "del", link.name], capture_output=True, timeout=30)


def remove_local_network(name: str, docker_host: str | None = None) -> None:
    """The network `name` and any container still on it, on the local engine (or another)."""
    if docker_host is None and not Path(f"/sys/class/net/{name}br").exists():
        return  # the local engine never made it (its bridge interface is missing)
    base = ["docker"] + (["-H", docker_host] if docker_host else [])
    out = subprocess.run([*base, "network", "inspect", name, "--format",
                          "{{range $id, $c := .Containers}}{{$id}} {{end}}"],
                         capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        return
    ids = out.stdout.split()
    if ids:
        subprocess.run([*base, "rm", "-f", *ids], capture_output=True, timeout=60)
    subprocess.run([*base, "network", "rm", name], capture_output=True, timeout=30)
