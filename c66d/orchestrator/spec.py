"""What a stack's service file says, as typed values (no YAML here)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PortSpec:
    container: int
    http: int | None = None
    https: int | None = None
    tcp: int | None = None
    udp: int | None = None

    @property
    def published(self) -> bool:
        return any(p is not None for p in (self.http, self.https, self.tcp, self.udp))


@dataclass(frozen=True)
class HealthSpec:
    type: str = "inbound"
    endpoint: str = "/"
    protocol: str = "http"
    timeout: float = 30.0
    accept: tuple[str, ...] = ("200",)


@dataclass(frozen=True)
class StopStep:
    """One step of a pre_stop_sequence: wait `seconds`, or send `signal`."""

    seconds: float = 0.0
    signal: str = ""


@dataclass(frozen=True)
class Constraints:
    max_count: int | None = None
    memory: int | None = None  # bytes
    cpu: float | None = None  # cores
    servers: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    image: str = ""
    git_url: str = ""
    git_branch: str = "main"
    build_root: str = ""
    dockerfile_path: str = "Dockerfile"
    command: str = ""
    build_command: str = ""
    deploy_command: str = ""
    work_dir: str = ""
    ports: tuple[PortSpec, ...] = ()
    traffic_matches: tuple[str, ...] = ()
    env_vars: dict[str, str] = field(default_factory=dict)
    volumes: tuple[str, ...] = ()
    log_folder: str = ""
    health: HealthSpec | None = None
    requires: tuple[str, ...] = ()
    pre_start_signal: str = ""
    pre_stop_sequence: tuple[StopStep, ...] = ()
    stop_grace: float = 30.0
    restart_on_deploy: bool = True
    dns_behaviour: str = "versioned"
    load_balancing: str = "roundrobin"
    constraints: Constraints = Constraints()
    privileged: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    # c66d's own key: seconds a server may stay down before its containers of this service
    # are started on other eligible servers (None: they wait for their server).
    reschedule_after: float | None = None
    rollout: str = "parallel"  # c66d's own key: `serial` rolls out one server at a time

    @property
    def builds(self) -> bool:
        """Built from git rather than pulled as an `image:`."""
        return bool(self.git_url) and not self.image

    @property
    def host_volumes(self) -> tuple[str, ...]:
        """Volumes that mount a path of the server (they give root on it)."""
        return tuple(v for v in self.volumes if v.split(":", 1)[0].startswith("/"))


@dataclass(frozen=True)
class StackSpec:
    services: dict[str, ServiceSpec]
    databases: tuple[str, ...] = ()

    def start_order(self) -> list[str]:
        """Service names with every service after the ones it `requires` (validated acyclic)."""
        order: list[str] = []
        seen: set[str] = set()

        def visit(name: str) -> None:
            if name in seen:
                return
            seen.add(name)
            for dep in self.services[name].requires:
                visit(dep)
            order.append(name)

        for name in sorted(self.services):
            visit(name)
        return order
