"""Settings: defaults < TOML file < C66D_* environment < command-line flags.

Every setting is declared once in SETTINGS; the README documents each (a test checks).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from c66d.errors import ConfigError

ENV_PREFIX = "C66D_"


@dataclass(frozen=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_host_port(text: str) -> HostPort:
    text = text.strip()
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    host = host.strip("[]")
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"port must be a number, got {port_text!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be 0..65535, got {port}")
    return HostPort(host, port)


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _parse_positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"must be at least 1, got {value}")
    return value


def _parse_non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise ValueError(f"must not be negative, got {value}")
    return value


def _parse_network(text: str) -> str:
    return str(ipaddress.ip_network(text.strip(), strict=True))


def _parse_subnet_prefix(text: str) -> int:
    value = int(text)
    if not 8 <= value <= 29:
        raise ValueError(f"must be 8..29, got {value}")
    return value


def _parse_net_name(text: str) -> str:
    name = text.strip()
    if not name or len(name) > 9 or not name.isalnum() or not name.isascii() \
            or not name[0].isalpha() or name.lower() != name:
        raise ValueError(f"expected 1-9 of a-z and 0-9 starting with a letter, got {text!r}")
    return name


def _parse_overlay(text: str) -> str:
    value = text.strip().lower()
    if value not in {"wireguard", "vxlan", "none"}:
        raise ValueError(f"expected wireguard, vxlan or none, got {text!r}")
    return value


def _parse_port(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise ValueError(f"must be 1..65535, got {value}")
    return value


def _parse_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _parse_log_level(text: str) -> str:
    level = text.strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError(f"expected DEBUG, INFO, WARNING or ERROR, got {text!r}")
    return level


@dataclass(frozen=True)
class Setting:
    name: str
    parse: Callable[[str], Any]
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("data_dir", Path, Path("c66d-data"), "directory for the database, blobs and logs"),
    Setting("http", parse_host_port, HostPort("127.0.0.1", 8066),
            "HOST:PORT for the UI, /api/v1 and the registry at /v2/ (port 0: pick one)"),
    Setting("dns", parse_host_port, HostPort("127.0.0.1", 5353),
            "HOST:PORT for the DNS server, UDP and TCP (port 0: pick one)"),
    Setting("log_level", _parse_log_level, "INFO", "DEBUG, INFO, WARNING or ERROR"),
    Setting("docker_url", str, "unix:///var/run/docker.sock",
            "Docker engine of the c66d host (the server `local`)"),
    Setting("public_url", str, "", "URL users reach c66d at (default: http://HTTP)"),
    Setting("admin_password", str, "", "password for the first `admin` user (else random)"),
    Setting("registry_upload_expiry", _parse_non_negative_float, 3600.0,
            "seconds an unfinished registry upload is kept"),
    Setting("registry_gc_interval", _parse_non_negative_float, 86400.0,
            "seconds between registry garbage collections (0: never)"),
    Setting("registry_anonymous_pull", _parse_bool, False,
            "let anyone pull from the registry without credentials"),
    Setting("build_concurrency", _parse_positive_int, 2, "builds that run at once"),
    Setting("build_timeout", _parse_non_negative_float, 3600.0,
            "seconds a build may run before it fails (0: no limit)"),
    Setting("dns_zone", str, "c66.internal", "DNS zone c66d answers for"),
    Setting("dns_upstreams", _parse_list, (),
            "comma-separated upstream resolvers HOST[:PORT] (default: the host's"
            " /etc/resolv.conf; `none`: refuse names outside the zone)"),
    Setting("dns_ttl", _parse_positive_int, 5, "TTL in seconds of records c66d serves"),
    Setting("cluster_range", _parse_network, "10.66.0.0/16",
            "private range cut into a subnet per server for ContainerNet"),
    Setting("server_subnet_prefix", _parse_subnet_prefix, 24,
            "prefix length of each server's subnet of `cluster_range` (24: 253 containers)"),
    Setting("net_name", _parse_net_name, "c66d",
            "name of ContainerNet's Docker network on each server (and of its interfaces)"),
    Setting("net_overlay", _parse_overlay, "wireguard",
            "how servers' subnets reach each other: wireguard (wireguard-go), vxlan "
            "(unencrypted, for trusted networks) or none"),
    Setting("net_port", _parse_port, 51866,
            "UDP port of the overlay (WireGuard or VXLAN) on every server and on the c66d host"),
    Setting("server_down_grace", _parse_non_negative_float, 30.0,
            "seconds without an answer before a server is marked down"),
    Setting("images_kept", _parse_positive_int, 3,
            "images per service each server keeps for rollbacks"),
    Setting("session_ttl", _parse_non_negative_float, 12 * 3600.0,
            "seconds a UI session lasts"),
    Setting("secret_key", str, "",
            "Fernet key sealing secret stack variables (default: made in DATA_DIR/keys)"),
)
SETTINGS_BY_NAME: Mapping[str, Setting] = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class Config:
    data_dir: Path = Path("c66d-data")
    http: HostPort = HostPort("127.0.0.1", 8066)
    dns: HostPort = HostPort("127.0.0.1", 5353)
    log_level: str = "INFO"
    docker_url: str = "unix:///var/run/docker.sock"
    public_url: str = ""
    admin_password: str = field(default="", repr=False)
    registry_upload_expiry: float = 3600.0
    registry_gc_interval: float = 86400.0
    registry_anonymous_pull: bool = False
    build_concurrency: int = 2
    build_timeout: float = 3600.0
    dns_zone: str = "c66.internal"
    dns_upstreams: tuple[str, ...] = ()
    dns_ttl: int = 5
    cluster_range: str = "10.66.0.0/16"
    server_subnet_prefix: int = 24
    net_name: str = "c66d"
    net_overlay: str = "wireguard"
    net_port: int = 51866
    server_down_grace: float = 30.0
    images_kept: int = 3
    session_ttl: float = 12 * 3600.0
    secret_key: str = field(default="", repr=False)

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)

    def shown(self) -> dict[str, str]:
        """Every setting as text, secrets masked."""
        out: dict[str, str] = {}
        for s in SETTINGS:
            value = getattr(self, s.name)
            if s.name in {"admin_password", "secret_key"}:
                out[s.name] = "***" if value else ""
            elif isinstance(value, tuple):
                out[s.name] = ",".join(value)
            else:
                out[s.name] = str(value)
        return out


def _coerce(name: str, raw: Any, origin: str) -> Any:
    setting = SETTINGS_BY_NAME.get(name)
    if setting is None:
        known = ", ".join(SETTINGS_BY_NAME)
        raise ConfigError(f"unknown setting {name!r} in {origin} (known: {known})")
    if isinstance(raw, list):
        raw = ",".join(str(item) for item in raw)
    elif isinstance(raw, bool):
        raw = "true" if raw else "false"
    try:
        return setting.parse(str(raw))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"bad value for setting {name!r} in {origin}: {exc}") from None


def load_config(
    *,
    file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> Config:
    """Layer the sources; the first bad key or value raises ConfigError naming it."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    file_path = file or (Path(environ["C66D_CONFIG"]) if environ.get("C66D_CONFIG") else None)
    if file_path is not None:
        try:
            data = tomllib.loads(file_path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file {file_path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {file_path} is not valid TOML: {exc}") from None
        for key, raw in data.items():
            values[key] = _coerce(key, raw, f"config file {file_path}")
    for key, raw in environ.items():
        if not key.startswith(ENV_PREFIX) or key == "C66D_CONFIG":
            continue
        name = key[len(ENV_PREFIX):].lower()
        values[name] = _coerce(name, raw, f"environment variable {key}")
    for name, raw in (flags or {}).items():
        if raw is not None:
            values[name] = _coerce(name, raw, f"flag --{name.replace('_', '-')}")
    return Config(**values)
