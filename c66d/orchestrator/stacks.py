"""Stacks as users see them: create from a service file, update, scale, variables."""

from __future__ import annotations

import functools
from typing import Any

from c66d.errors import Invalid, NotFound
from c66d.orchestrator.servicefile import NAME, parse_service_file
from c66d.orchestrator.spec import StackSpec
from c66d.store import EnvVar, Stack, Store

MASK = "***"
DEFAULT_COUNT = 1


def check_name(name: Any, what: str = "stack") -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise Invalid(
            f"{what} name must be lowercase letters, digits and dashes (1-63), got {name!r}",
            detail={"field": "name"},
        )
    return name


@functools.lru_cache(maxsize=512)
def _parsed(text: str) -> StackSpec:
    return parse_service_file(text)


def spec_of(stack: Stack) -> StackSpec:
    """The parsed service file of a stored stack (validated when stored; parsed once per text,
    so treat the result as read-only)."""
    return _parsed(stack.service_yml)


def parse_variables(raw: Any) -> list[EnvVar]:
    """`{"NAME": "value"}` or `[{"name", "value", "secret"}]` -> variables, validated."""
    if isinstance(raw, dict):
        raw = [{"name": k, "value": v} for k, v in raw.items()]
    if not isinstance(raw, list):
        raise Invalid("variables must be an object or a list", detail={"field": "variables"})
    out, problems = [], []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            problems.append(f"variables[{index}]: needs a name")
            continue
        name, value = item["name"], item.get("value", "")
        if not name.replace("_", "a").isalnum() or name[0].isdigit():
            problems.append(f"variables[{index}]: {name!r} is not a valid variable name")
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            problems.append(f"variables[{index}]: value of {name} must be a string")
            continue
        out.append(EnvVar(name, str(value), bool(item.get("secret", False))))
    if problems:
        raise Invalid("; ".join(problems), detail=problems)
    return out


async def create_stack(store: Store, name: Any, service_yml: Any,
                       variables: list[EnvVar] | None = None) -> Stack:
    check_name(name)
    if not isinstance(service_yml, str):
        raise Invalid("service_yml must be the text of a service.yml",
                      detail={"field": "service_yml"})
    parse_service_file(service_yml)  # refuse a bad file whole, before anything is written
    stack = await store.stacks.create(name, service_yml)
    if variables:
        await store.stacks.set_env(name, variables)
    return stack


async def update_stack(store: Store, name: str, *, service_yml: Any = None,
                       auto_deploy: Any = None) -> Stack:
    if service_yml is not None:
        if not isinstance(service_yml, str):
            raise Invalid("service_yml must be text", detail={"field": "service_yml"})
        parse_service_file(service_yml)
    if auto_deploy is not None and not isinstance(auto_deploy, bool):
        raise Invalid("auto_deploy must be true or false", detail={"field": "auto_deploy"})
    return await store.stacks.update(name, service_yml=service_yml, auto_deploy=auto_deploy)


async def replace_variables(store: Store, name: str, variables: list[EnvVar]) -> None:
    """Set the stack's variables; a secret sent back masked keeps its stored value."""
    current = {v.name: v for v in await store.stacks.env_vars(name)}
    merged = []
    for var in variables:
        old = current.get(var.name)
        if var.value == MASK and old is not None and old.secret:
            var = EnvVar(var.name, old.value, True)
        merged.append(var)
    await store.stacks.set_env(name, merged)


async def scale(store: Store, name: str, service: str, count: Any) -> int:
    stack = await store.stacks.get(name)
    spec = spec_of(stack).services.get(service)
    if spec is None:
        raise NotFound(f"stack {name!r} has no service {service!r}")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise Invalid(f"count must be a whole number >= 0, got {count!r}",
                      detail={"field": "count"})
    limit = spec.constraints.max_count
    if limit is not None and count > limit:
        raise Invalid(f"service {service!r} allows at most {limit} containers "
                      f"(constraints.max_count), asked for {count}", detail={"field": "count"})
    await store.stacks.set_count(name, service, count)
    return count


async def desired_counts(store: Store, stack: Stack,
                         stored: dict[str, int] | None = None) -> dict[str, int]:
    """Containers wanted per service; `stored` saves the query when the caller has them."""
    counts = await store.stacks.counts(stack.name) if stored is None else stored
    return {name: counts.get(name, DEFAULT_COUNT) for name in spec_of(stack).services}


def masked(variables: list[EnvVar]) -> list[dict[str, Any]]:
    return [{"name": v.name, "value": MASK if v.secret else v.value, "secret": v.secret}
            for v in variables]


async def stack_view(store: Store, stack: Stack, base_url: str,
                     stored_counts: dict[str, int] | None = None) -> dict[str, Any]:
    spec = spec_of(stack)
    counts = await desired_counts(store, stack, stored_counts)
    return {
        "name": stack.name,
        "service_yml": stack.service_yml,
        "auto_deploy": stack.auto_deploy,
        "hook_url": f"{base_url}/api/v1/hooks/{stack.name}",
        "created_at": stack.created_at,
        "updated_at": stack.updated_at,
        "databases": list(spec.databases),
        "services": [
            {
                "name": s.name,
                "image": s.image,
                "git_url": s.git_url,
                "git_branch": s.git_branch,
                "count": counts[s.name],
                "max_count": s.constraints.max_count,
                "ports": [p.__dict__ for p in s.ports],
                "requires": list(s.requires),
            }
            for s in (spec.services[n] for n in spec.start_order())
        ],
    }
