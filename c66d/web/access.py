"""Who may call a handler: every route declares it, the auth middleware enforces it.

Levels, weakest first: `public` (anyone), `user` (any signed-in user), `read`, `deploy` and
`stack_admin` (a role on the stack named by the route's `{stack}`, or on every stack when the
route names none), `admin` (global administrator). A route without a declaration is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

Level = Literal["public", "user", "read", "deploy", "stack_admin", "admin"]
LEVELS: tuple[Level, ...] = ("public", "user", "read", "deploy", "stack_admin", "admin")

_ATTR = "__c66d_access__"
F = TypeVar("F", bound=Callable[..., object])


@dataclass(frozen=True)
class Access:
    level: Level
    stack_param: str | None = "stack"


def access(level: Level, *, stack_param: str | None = "stack") -> Callable[[F], F]:
    """Declare the access a handler needs: `@access("deploy")`."""
    if level not in LEVELS:
        raise ValueError(f"unknown access level {level!r}")

    def mark(handler: F) -> F:
        setattr(handler, _ATTR, Access(level, stack_param))
        return handler

    return mark


def required_access(handler: object) -> Access | None:
    found = getattr(handler, _ATTR, None)
    return found if isinstance(found, Access) else None
