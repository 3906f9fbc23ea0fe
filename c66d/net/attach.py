"""What ContainerNet adds to Docker API bodies (pure): the network, a container's place on it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LABEL = "c66d.network"


def bridge_name(net_name: str) -> str:
    return f"{net_name}br"


def network_spec(net_name: str, subnet: str, gateway: str) -> dict[str, Any]:
    """`POST /networks/create` for the server's ContainerNet bridge."""
    return {
        "Name": net_name,
        "Driver": "bridge",
        "CheckDuplicate": True,
        "IPAM": {"Driver": "default", "Config": [{"Subnet": subnet, "Gateway": gateway}]},
        "Options": {"com.docker.network.bridge.name": bridge_name(net_name)},
        "Labels": {LABEL: "true"},
    }


def network_subnets(info: dict[str, Any]) -> list[str]:
    """The subnets of a network as `GET /networks/{id}` shows it."""
    configs = ((info.get("IPAM") or {}).get("Config")) or []
    return [str(c["Subnet"]) for c in configs if c.get("Subnet")]


@dataclass(frozen=True)
class Attachment:
    """A container's place on ContainerNet: its network, address and resolver."""

    network: str
    address: str
    dns: tuple[str, ...]
    search: tuple[str, ...]

    def apply(self, config: dict[str, Any]) -> dict[str, Any]:
        """The create-container body with the network, fixed address, DNS and search domain."""
        host = {**config.get("HostConfig", {}), "NetworkMode": self.network}
        if self.dns:
            host["Dns"] = list(self.dns)
        if self.search:
            host["DnsSearch"] = list(self.search)
        endpoint = {"IPAMConfig": {"IPv4Address": self.address}}
        return {**config, "HostConfig": host,
                "NetworkingConfig": {"EndpointsConfig": {self.network: endpoint}}}
