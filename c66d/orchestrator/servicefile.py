"""Parse a Cloud 66 `service.yml` into a StackSpec, refusing a bad file whole.

Every problem is collected with its key path and line; nothing is half-applied.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import yaml

from c66d.errors import Invalid
from c66d.orchestrator.lb import valid_name
from c66d.orchestrator.spec import (
    Constraints,
    HealthSpec,
    PortSpec,
    ServiceSpec,
    StackSpec,
    StopStep,
)
from c66d.orchestrator.yamlnodes import Problem, Problems, compose, mapping_items, plain

NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$")
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?$", re.IGNORECASE)
_SIGNAL = re.compile(r"^(SIG)?[A-Z0-9]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DATABASES = {"mysql", "postgresql", "redis", "mongodb", "elasticsearch", "rabbitmq", "memcached",
             "influxdb", "glusterfs"}


class ServiceFileInvalid(Invalid):
    """The service file has problems; `detail` lists each with its key path and line."""

    code = "SERVICE_FILE_INVALID"

    def __init__(self, problems: list[Problem]) -> None:
        lines = "; ".join(str(p) for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(
            f"service.yml has {len(problems)} problem(s): {lines}{more}",
            detail=[{"path": p.path, "line": p.line, "message": p.message} for p in problems],
        )
        self.problems = problems


def parse_duration(value: Any) -> float:
    """`30`, `"30s"`, `"1m"`, `"500ms"`, `"2h"` -> seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 30s or 1m")
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(str(value).strip())
    if not match:
        raise ValueError(f"expected a duration like 30s or 1m, got {value!r}")
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[match.group(2)]
    return float(match.group(1)) * scale


def _positive_duration(value: Any) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"expected a duration longer than 0s, got {value!r}")
    return seconds


def parse_size(value: Any) -> int:
    """`512m`, `"1g"`, `"256MiB"`, `1048576` -> bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _SIZE.match(str(value).strip())
    if not match:
        raise ValueError(f"expected a size like 512m or 1g, got {value!r}")
    unit = (match.group(2) or "b").lower()[0]
    scale = {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}[unit]
    return int(float(match.group(1)) * scale)


def _port_number(value: Any) -> int:
    number = int(value)
    if not 1 <= number <= 65535:
        raise ValueError(f"port must be 1..65535, got {number}")
    return number


def parse_port(value: Any) -> PortSpec:
    """`"3000:80:443"`, `"5000"`, `3000`, or a mapping with container/http/https/tcp/udp."""
    if isinstance(value, dict):
        unknown = set(value) - {"container", "http", "https", "tcp", "udp"}
        if unknown:
            raise ValueError(f"unknown port key(s): {', '.join(sorted(map(str, unknown)))}")
        if "container" not in value:
            raise ValueError("a port needs `container`")
        return PortSpec(**{k: _port_number(v) for k, v in value.items()})
    parts = str(value).split(":")
    if len(parts) > 3 or not all(p.strip().isdigit() for p in parts if p.strip()):
        raise ValueError(f"expected CONTAINER[:HTTP[:HTTPS]], got {value!r}")
    numbers = [_port_number(p) if p.strip() else None for p in parts]
    if numbers[0] is None:
        raise ValueError(f"a port needs the container port, got {value!r}")
    return PortSpec(numbers[0], *numbers[1:])


def parse_stop_sequence(value: Any) -> tuple[StopStep, ...]:
    """`1m:USR2:30s:USR1:50s`: waits and signals, in order."""
    steps = []
    for part in str(value).split(":"):
        part = part.strip()
        if not part:
            raise ValueError(f"empty step in {value!r}")
        if part[0].isdigit():
            steps.append(StopStep(seconds=parse_duration(part)))
        elif _SIGNAL.match(part):
            steps.append(StopStep(signal=part.removeprefix("SIG")))
        else:
            raise ValueError(f"{part!r} is neither a duration nor a signal")
    return tuple(steps)


def parse_health(value: Any) -> HealthSpec | None:
    if value in ("default", True):
        return HealthSpec()
    if value in ("none", None, False):
        return None
    if not isinstance(value, dict):
        raise ValueError("expected default, none, or a mapping")
    unknown = set(value) - {"type", "endpoint", "protocol", "timeout", "accept"}
    if unknown:
        raise ValueError(f"unknown health key(s): {', '.join(sorted(map(str, unknown)))}")
    accept = value.get("accept", ["200"])
    accept = accept if isinstance(accept, list) else [accept]
    health = HealthSpec(
        type=str(value.get("type", "inbound")),
        endpoint=str(value.get("endpoint", "/")),
        protocol=str(value.get("protocol", "http")),
        timeout=parse_duration(value.get("timeout", 30)),
        accept=tuple(str(a) for a in accept),
    )
    if health.type not in {"inbound", "outbound"}:
        raise ValueError(f"health type must be inbound or outbound, got {health.type!r}")
    if health.protocol not in {"http", "https", "tcp"}:
        raise ValueError(f"health protocol must be http, https or tcp, got {health.protocol!r}")
    if not health.endpoint.startswith("/"):
        raise ValueError(f"health endpoint must start with /, got {health.endpoint!r}")
    return health


def _string(value: Any) -> str:
    if isinstance(value, dict | list) or value is None:
        raise ValueError("expected a string")
    return str(value)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _string_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or any(isinstance(v, dict | list) for v in value):
        raise ValueError("expected a list of strings")
    return tuple(str(v) for v in value)


def _traffic_matches(value: Any) -> tuple[str, ...]:
    """Host names for the service's nginx server block: nothing nginx would misread."""
    names = _string_list(value)
    bad = [n for n in names if not valid_name(n)]
    if bad:
        raise ValueError(f"not a host name nginx can serve: {', '.join(map(repr, bad))} (use "
                         "names like shop.example, *.shop.example, .shop.example or shop.*)")
    return names


def _env_vars(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValueError("expected a mapping of NAME: value")
    bad = [str(k) for k in value if not _ENV_NAME.match(str(k))]
    if bad:
        raise ValueError(f"not a valid variable name: {', '.join(bad)}")
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def _choice(*allowed: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if value not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}, got {value!r}")
        return str(value)

    return parse


def _ports(value: Any) -> tuple[PortSpec, ...]:
    items = value if isinstance(value, list) else [value]
    ports = tuple(parse_port(v) for v in items)
    containers = [p.container for p in ports]
    if len(set(containers)) != len(containers):
        raise ValueError("a container port is listed twice")
    return ports


def _constraints(value: Any) -> Constraints:
    if not isinstance(value, dict):
        raise ValueError("expected a mapping")
    unknown = set(value) - {"max_count", "resources", "servers"}
    if unknown:
        raise ValueError(f"unknown constraint(s): {', '.join(sorted(map(str, unknown)))}")
    resources = value.get("resources") or {}
    if not isinstance(resources, dict) or set(resources) - {"memory", "cpu"}:
        raise ValueError("resources takes memory and cpu")
    max_count = value.get("max_count")
    if max_count is not None and (not isinstance(max_count, int) or max_count < 0):
        raise ValueError(f"max_count must be a whole number >= 0, got {max_count!r}")
    cpu = resources.get("cpu")
    servers = value.get("servers", [])
    return Constraints(
        max_count=max_count,
        memory=parse_size(resources["memory"]) if "memory" in resources else None,
        cpu=float(cpu) if cpu is not None else None,
        servers=_string_list(servers) if servers else (),
    )


def _tags(value: Any) -> dict[str, str]:
    if isinstance(value, list):
        return {str(v): "" for v in value}
    if not isinstance(value, dict):
        raise ValueError("expected a mapping or a list")
    return {str(k): str(v) for k, v in value.items()}


KEYS: dict[str, Callable[[Any], Any]] = {
    "image": _string, "git_url": _string, "git_branch": _string, "build_root": _string,
    "dockerfile_path": _string, "command": _string, "build_command": _string,
    "deploy_command": _string, "work_dir": _string, "ports": _ports,
    "traffic_matches": _traffic_matches, "env_vars": _env_vars, "volumes": _string_list,
    "log_folder": _string, "health": parse_health, "requires": _string_list,
    "pre_start_signal": _string, "pre_stop_sequence": parse_stop_sequence,
    "stop_grace": parse_duration, "restart_on_deploy": _bool,
    "dns_behaviour": _choice("versioned", "non-versioned"),
    "load_balancing": _choice("roundrobin", "sticky", "closest"),
    "constraints": _constraints, "privileged": _bool, "tags": _tags,
    "reschedule_after": _positive_duration,
    "rollout": _choice("parallel", "serial"),
}


def _service(name: str, name_node: yaml.Node, node: yaml.Node,
             problems: Problems) -> ServiceSpec | None:
    path = f"services.{name}"
    if not NAME.match(name):
        problems.add(path, name_node, "service names are lowercase letters, digits and dashes")
    if not isinstance(node, yaml.MappingNode):
        problems.add(path, node, "a service must be a mapping of keys")
        return None
    values: dict[str, Any] = {}
    for key, key_node, value_node in mapping_items(node):
        parser = KEYS.get(key)
        if parser is None:
            problems.add(f"{path}.{key}", key_node, "unknown key")
            continue
        try:
            values[key] = parser(plain(value_node))
        except (ValueError, TypeError) as exc:
            problems.add(f"{path}.{key}", value_node, str(exc))
    if not values.get("image") and not values.get("git_url"):
        problems.add(path, name_node, "needs `image` or `git_url`")
    return ServiceSpec(name=name, **values)


def _check_requires(spec: dict[str, ServiceSpec], lines: dict[str, yaml.Node],
                    problems: Problems) -> None:
    for name, service in spec.items():
        for dep in service.requires:
            if dep not in spec:
                problems.add(f"services.{name}.requires", lines[name], f"no service {dep!r}")
    state: dict[str, int] = {}

    def cycle(name: str) -> bool:
        state[name] = 1
        for dep in spec[name].requires:
            if dep in spec and (state.get(dep) == 1 or (dep not in state and cycle(dep))):
                return True
        state[name] = 2
        return False

    for name in sorted(spec):
        if name not in state and cycle(name):
            problems.add(f"services.{name}.requires", lines[name], "requires form a cycle")
            return


def parse_service_file(text: str) -> StackSpec:
    """The stack spec, or ServiceFileInvalid listing every problem."""
    root, syntax = compose(text)
    if syntax is not None:
        raise ServiceFileInvalid([syntax])
    problems = Problems()
    if not isinstance(root, yaml.MappingNode):
        problems.add("(file)", root, "expected a mapping with `services:`")
        raise ServiceFileInvalid(problems.found)
    services: dict[str, ServiceSpec] = {}
    lines: dict[str, yaml.Node] = {}
    databases: tuple[str, ...] = ()
    seen_services = False
    for key, key_node, value_node in mapping_items(root):
        if key == "services":
            seen_services = True
            if not isinstance(value_node, yaml.MappingNode) or not value_node.value:
                problems.add("services", value_node, "expected a mapping of services")
                continue
            for name, name_node, service_node in mapping_items(value_node):
                if name in services:
                    problems.add(f"services.{name}", name_node, "service defined twice")
                parsed = _service(name, name_node, service_node, problems)
                if parsed is not None:
                    services[name], lines[name] = parsed, name_node
        elif key == "databases":
            try:
                databases = _string_list(plain(value_node))
            except ValueError as exc:
                problems.add("databases", value_node, str(exc))
                continue
            for db in databases:
                if db not in DATABASES:
                    problems.add("databases", value_node, f"unknown database {db!r}")
        else:
            problems.add(key, key_node, "unknown top-level key (expected services, databases)")
    if not seen_services:
        problems.add("services", root, "missing")
    _check_requires(services, lines, problems)
    if problems.found:
        raise ServiceFileInvalid(problems.found)
    return StackSpec(services=services, databases=databases)
