"""The ContainerNet bridge on one Docker engine: made when missing, checked when present."""

from __future__ import annotations

from typing import Any

import aiodocker

from c66d.errors import Conflict
from c66d.net.attach import network_spec, network_subnets
from c66d.net.ipam import gateway


async def inspect_network(docker: aiodocker.Docker, name: str) -> dict[str, Any] | None:
    try:
        network = await docker.networks.get(name)
        info: dict[str, Any] = await network.show()
    except aiodocker.DockerError as exc:
        if exc.status == 404:
            return None
        raise
    return info


async def ensure_network(docker: aiodocker.Docker, name: str, subnet: str) -> bool:
    """The bridge `name` with `subnet` exists on the engine; True when it was (re)made.

    A network of that name with another subnet (a leftover of an earlier cluster range) is
    replaced when no container uses it, and refused otherwise."""
    info = await inspect_network(docker, name)
    if info is not None:
        if network_subnets(info) == [subnet]:
            return False
        if info.get("Containers"):
            raise Conflict(f"Docker network {name!r} has subnet {network_subnets(info)}, not "
                           f"{subnet}, and containers use it; remove them or rename `net_name`")
        await (await docker.networks.get(name)).delete()
    try:
        await docker.networks.create(network_spec(name, subnet, gateway(subnet)))
    except aiodocker.DockerError as exc:
        if exc.status != 409:  # made at the same moment by another caller: check it again
            raise
        again = await inspect_network(docker, name)
        if again is None or network_subnets(again) != [subnet]:
            raise
        return False
    return True


async def remove_network(docker: aiodocker.Docker, name: str) -> bool:
    """Remove the bridge (when no container uses it); False when it was not there."""
    try:
        await (await docker.networks.get(name)).delete()
    except aiodocker.DockerError as exc:
        if exc.status == 404:
            return False
        raise
    return True
