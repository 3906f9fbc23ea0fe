"""What a container of a service looks like to the Docker API (pure)."""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass
from typing import Any

from c66d import jsonio
from c66d.orchestrator.spec import ServiceSpec

LABEL = "c66d"  # every label c66d sets starts with this
MANAGED = f"{LABEL}.managed"


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    config: dict[str, Any]
    config_hash: str


def config_hash(service: ServiceSpec, image: str, env: dict[str, str]) -> str:
    """What makes two containers interchangeable: same image, env, command and host settings."""
    material = {
        "image": image, "env": env, "command": service.command, "work_dir": service.work_dir,
        "ports": [p.__dict__ for p in service.ports], "volumes": list(service.volumes),
        "privileged": service.privileged, "memory": service.constraints.memory,
        "cpu": service.constraints.cpu,
    }
    return hashlib.sha256(jsonio.dumpb(material)).hexdigest()[:16]


def container_address(info: dict[str, Any]) -> str:
    """A container's address from the engine's inspect answer (its first network's)."""
    settings = info.get("NetworkSettings") or {}
    if settings.get("IPAddress"):
        return str(settings["IPAddress"])
    for network in (settings.get("Networks") or {}).values():
        if network.get("IPAddress"):
            return str(network["IPAddress"])
    return ""


def labels(stack: str, service: str, deployment: int, digest: str) -> dict[str, str]:
    return {
        MANAGED: "true", f"{LABEL}.stack": stack, f"{LABEL}.service": service,
        f"{LABEL}.deployment": str(deployment), f"{LABEL}.config": digest,
    }


def container_spec(stack: str, service: ServiceSpec, image: str, env: dict[str, str],
                   deployment: int, index: int, *, dns: list[str] | None = None,
                   network: str = "") -> ContainerSpec:
    digest = config_hash(service, image, env)
    name = f"{stack}-{service.name}-{deployment}-{index}"
    host: dict[str, Any] = {"RestartPolicy": {"Name": "no"}, "Privileged": service.privileged}
    if service.volumes:
        host["Binds"] = list(service.volumes)
    if service.constraints.memory:
        host["Memory"] = service.constraints.memory
    if service.constraints.cpu:
        host["NanoCpus"] = int(service.constraints.cpu * 1e9)
    bindings: dict[str, list[dict[str, str]]] = {}
    exposed: dict[str, dict[str, Any]] = {}
    for port in service.ports:
        exposed[f"{port.container}/tcp"] = {}
        if port.tcp:
            bindings[f"{port.container}/tcp"] = [{"HostPort": str(port.tcp)}]
        if port.udp:
            exposed[f"{port.container}/udp"] = {}
            bindings[f"{port.container}/udp"] = [{"HostPort": str(port.udp)}]
    if bindings:
        host["PortBindings"] = bindings
    if dns:
        host["Dns"] = dns
    if network:
        host["NetworkMode"] = network
    config: dict[str, Any] = {
        "Image": image,
        "Env": [f"{k}={v}" for k, v in sorted(env.items())],
        "Labels": labels(stack, service.name, deployment, digest),
        "ExposedPorts": exposed,
        "HostConfig": host,
    }
    if service.command:
        config["Cmd"] = shlex.split(service.command)
    if service.work_dir:
        config["WorkingDir"] = service.work_dir
    return ContainerSpec(name, config, digest)


def one_off_spec(stack: str, service: ServiceSpec, image: str, env: dict[str, str],
                 deployment: int, command: str) -> ContainerSpec:
    """The container that runs `deploy_command` once before a service rolls out."""
    spec = container_spec(stack, service, image, env, deployment, 0)
    config = {**spec.config, "Cmd": shlex.split(command)}
    config["Labels"] = {**config["Labels"], f"{LABEL}.one_off": "deploy_command"}
    return ContainerSpec(f"{stack}-{service.name}-{deployment}-deploy", config, spec.config_hash)
