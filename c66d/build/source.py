"""What a build needs to know about its service: read from the stack's service file."""

from __future__ import annotations

from dataclasses import dataclass, field

from c66d.build.errors import ServiceNotBuildable
from c66d.orchestrator.servicefile import parse_service_file
from c66d.orchestrator.spec import ServiceSpec
from c66d.store import Stack, Store


@dataclass(frozen=True)
class BuildSource:
    git_url: str
    branch: str
    build_root: str
    dockerfile: str
    buildargs: dict[str, str] = field(repr=False, default_factory=dict)


def git_services(stack: Stack) -> dict[str, ServiceSpec]:
    """The services of the stack that are built from git."""
    spec = parse_service_file(stack.service_yml)
    return {name: svc for name, svc in spec.services.items() if svc.builds}


async def build_source(store: Store, stack_name: str, service: str) -> BuildSource:
    stack = await store.stacks.get(stack_name)
    spec = parse_service_file(stack.service_yml).services.get(service)
    if spec is None:
        raise ServiceNotBuildable(f"stack {stack_name!r} has no service {service!r}",
                                  detail={"field": "service"})
    if not spec.builds:
        raise ServiceNotBuildable(
            f"service {service!r} of stack {stack_name!r} is not built from git"
            " (it has no git_url, or it names an image)", detail={"field": "service"})
    return BuildSource(spec.git_url, spec.git_branch or "main", spec.build_root,
                       spec.dockerfile_path or "Dockerfile", await store.stacks.env(stack_name))
