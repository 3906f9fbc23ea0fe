"""The deployment engine: servers made on a cloud through libcloud, then driven like any other.

`POST /api/v1/servers/provision` names a libcloud compute driver, its credentials, a size, an
image and optionally a location. c66d creates the node (with its own SSH public key where the
driver takes one), waits until it runs and has an address, then adds it as an SSH server: from
there on it is a server like one the team brought. Removing the server destroys the node.
Every libcloud call is synchronous, so each runs in a thread. Credentials are sealed at rest
and never shown or logged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from libcloud.compute.base import Node, NodeAuthSSHKey, NodeDriver
from libcloud.compute.providers import get_driver
from libcloud.compute.types import NodeState

from c66d.errors import Invalid
from c66d.logs import SECRETS, get_logger
from c66d.orchestrator.servers import ServerSpec, parse_server_spec

log = get_logger("c66d.orchestrator.provision")
BOOT_TIMEOUT = 900.0  # seconds a node may take to run and get an address
BOOT_POLL = 5.0


class ProvisionFailed(Invalid):
    """The provider refused or the node never came up."""

    status = 502
    code = "PROVISION_FAILED"


@dataclass(frozen=True)
class ProvisionSpec:
    """A validated `POST /api/v1/servers/provision` body."""

    server: ServerSpec  # the address is filled in once the node has one
    driver: str
    credentials: dict[str, str]
    size: str
    image: str
    location: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    def stored(self) -> dict[str, Any]:
        """What is kept next to the node (no credentials)."""
        return {"size": self.size, "image": self.image, "location": self.location,
                "port": self.server.port, "user": self.server.user,
                "docker_socket": self.server.docker_socket, "roles": self.server.roles}


def parse_provision_spec(body: dict[str, Any]) -> ProvisionSpec:
    """Check the body; Invalid lists every problem by key."""
    errors: list[dict[str, str]] = []
    provider = body.get("provider")
    if not isinstance(provider, dict):
        errors.append({"key": "provider", "message": "must be {driver, key, secret?, region?}"})
        provider = {}
    driver, key = provider.get("driver"), provider.get("key", "")
    if not isinstance(driver, str) or not driver:
        errors.append({"key": "provider.driver", "message": "must name a libcloud driver"})
    else:
        try:
            get_driver(driver)
        except AttributeError:
            errors.append({"key": "provider.driver",
                           "message": f"libcloud has no compute driver {driver!r}"})
    credentials: dict[str, str] = {}
    for name in ("key", "secret", "region"):
        value = provider.get(name, "")
        if not isinstance(value, str):
            errors.append({"key": f"provider.{name}", "message": "must be a string"})
        elif value:
            credentials[name] = value
    if not key:
        errors.append({"key": "provider.key", "message": "is required"})
    for name in ("size", "image"):
        if not isinstance(body.get(name), str) or not body.get(name):
            errors.append({"key": name, "message": "must name an id or name the provider lists"})
    if not isinstance(body.get("location", ""), str):
        errors.append({"key": "location", "message": "must be a string"})
    server_body = {k: v for k, v in body.items()
                   if k in ("name", "port", "user", "docker_socket", "roles")}
    try:
        server = parse_server_spec({**server_body, "address": "pending"})
    except Invalid as exc:
        errors += exc.detail["errors"]
        server = ServerSpec("", "")
    extra = sorted(set(body) - {"name", "port", "user", "docker_socket", "roles", "provider",
                                "size", "image", "location"})
    errors += [{"key": k, "message": "unknown field"} for k in extra]
    if errors:
        raise Invalid("the server to provision is not valid: " + "; ".join(
            f"{e['key']}: {e['message']}" for e in errors), detail={"errors": errors})
    return ProvisionSpec(server, str(driver), credentials, str(body["size"]),
                         str(body["image"]), str(body.get("location", "")))


def pick(kind: str, wanted: str, choices: Iterable[Any]) -> Any:
    """The size/image/location whose id or name is `wanted`, or a clear error listing some."""
    listed = list(choices)
    for choice in listed:
        if wanted in (str(choice.id), str(getattr(choice, "name", ""))):
            return choice
    known = ", ".join(f"{c.id} ({getattr(c, 'name', '')})" for c in listed[:20])
    raise Invalid(f"the provider has no {kind} {wanted!r}; it offers: {known}",
                  detail={"errors": [{"key": kind, "message": f"unknown {kind} {wanted!r}"}]})


def make_driver(driver: str, credentials: dict[str, str]) -> NodeDriver:
    """A libcloud driver for the account; the secret is registered for redaction."""
    cls = get_driver(driver)
    for value in credentials.values():
        SECRETS.add(value)
    args = [credentials["key"]] + ([credentials["secret"]] if "secret" in credentials else [])
    kwargs = {"region": credentials["region"]} if "region" in credentials else {}
    return cls(*args, **kwargs)


def create_node(driver: NodeDriver, name: str, spec: dict[str, Any], public_key: str) -> Node:
    """Create the node (synchronous: call in a thread)."""
    kwargs: dict[str, Any] = {
        "name": name,
        "size": pick("size", spec["size"], driver.list_sizes()),
        "image": pick("image", spec["image"], driver.list_images()),
    }
    if spec.get("location"):
        kwargs["location"] = pick("location", spec["location"], driver.list_locations())
    if "ssh_key" in driver.features.get("create_node", []):
        kwargs["auth"] = NodeAuthSSHKey(public_key)
    return driver.create_node(**kwargs)


def running_address(driver: NodeDriver, node_id: str) -> tuple[str, str]:
    """(state, first public address) of the node now (synchronous)."""
    for node in driver.list_nodes():
        if str(node.id) == node_id:
            address = (node.public_ips or node.private_ips or [""])[0]
            return str(node.state), str(address)
    return "gone", ""


def destroy(driver: NodeDriver, node_id: str) -> bool:
    """Destroy the node if the provider still lists it (synchronous)."""
    for node in driver.list_nodes():
        if str(node.id) == node_id:
            return bool(driver.destroy_node(node))
    return False


RUNNING = str(NodeState.RUNNING)
