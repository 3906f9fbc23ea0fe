"""Who is calling (`Identity`) and the one pure rule deciding what they may do (`allowed`).

Ranks, weakest first: public < user < read < deploy < stack_admin < admin. A team role gives a
rank on named stacks (`viewer` = read, `deployer` = deploy, `admin` = stack_admin; the stack
`*` means every stack). A global admin holds every rank on every stack. A token's scope caps
what its holder may do through it (`read` token: read; `deploy`: deploy; `admin`: no cap).

A route that declares a stack level but names no stack in its path (a list, or a create whose
stack is in the body) needs: for `read`, only a signed-in user (the handler shows what the
caller may read); for `deploy` and `stack_admin`, that rank on at least one stack (the handler
checks the stack it acts on with `allowed(...)` or `require(...)`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from aiohttp import web

from c66d.web.access import Level

RANK: Mapping[str, int] = MappingProxyType(
    {"public": 0, "user": 1, "read": 2, "deploy": 3, "stack_admin": 4, "admin": 5})
ROLE_LEVEL: Mapping[str, str] = MappingProxyType(
    {"viewer": "read", "deployer": "deploy", "admin": "stack_admin"})
SCOPE_CAP: Mapping[str, int] = MappingProxyType(
    {"read": RANK["read"], "deploy": RANK["deploy"], "admin": RANK["admin"]})
EVERY_STACK = "*"


@dataclass(frozen=True)
class Identity:
    """A signed-in caller. `roles` maps stack -> level (read/deploy/stack_admin)."""

    name: str
    is_admin: bool = False
    roles: Mapping[str, str] = field(default_factory=dict)
    scope: str | None = None  # None: signed in with a password or session, no cap
    via: str = "password"  # password, token, session, registry-token, anonymous
    token_id: int | None = None

    @property
    def anonymous(self) -> bool:
        return self.via == "anonymous"

    def rank_on(self, stack: str | None) -> int:
        """The strongest stack rank held on `stack` (None: on any stack)."""
        if self.is_admin:
            return RANK["admin"]
        if stack is None:
            ranks = [RANK[level] for level in self.roles.values()]
        else:
            ranks = [RANK[level] for s, level in self.roles.items()
                     if s in (stack, EVERY_STACK)]
        return max(ranks, default=RANK["user"])


def allowed(identity: Identity | None, level: Level | str, stack: str | None) -> bool:
    """May `identity` do something that needs `level` on `stack` (None: no stack named)?"""
    need = RANK[level]
    if need == RANK["public"]:
        return True
    if identity is None:
        return False
    cap = RANK["admin"] if identity.scope is None else SCOPE_CAP[identity.scope]
    if need > cap:
        return False
    if need == RANK["user"]:
        return True
    if need == RANK["admin"]:
        return identity.is_admin
    if stack is None and need == RANK["read"]:
        return True
    return identity.rank_on(stack) >= need


def readable_stacks(identity: Identity | None) -> frozenset[str] | None:
    """The stacks `identity` may read; None means every stack (global admin, or a `*` role)."""
    if identity is None:
        return frozenset()
    if identity.is_admin or EVERY_STACK in identity.roles:
        return None
    return frozenset(identity.roles)


def roles_from_teams(team_roles: Mapping[str, str]) -> dict[str, str]:
    """Team roles per stack (viewer/deployer/admin) as levels (read/deploy/stack_admin)."""
    return {stack: ROLE_LEVEL[role] for stack, role in team_roles.items()}


IDENTITY = web.RequestKey("identity", Identity)
