"""`audit(request, ...)`: record a state change with who made it and from where."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from c66d.auth.credentials import ANONYMOUS, client_address
from c66d.auth.identity import IDENTITY, Identity, allowed
from c66d.errors import Forbidden, Unauthorized
from c66d.keys import STORE


def identity_of(request: web.Request) -> Identity | None:
    """The signed-in caller, or None for an anonymous request."""
    found = request.get(IDENTITY)
    return found if isinstance(found, Identity) else None


def actor_name(request: web.Request) -> str:
    """Who is acting, for records such as a deployment's `actor` ('' when anonymous)."""
    identity = identity_of(request)
    return identity.name if identity is not None and not identity.anonymous else ""


def signed_in(request: web.Request) -> Identity:
    """The caller on a route that needs sign-in (the middleware made sure there is one)."""
    identity = identity_of(request)
    if identity is None or identity.anonymous:
        raise Unauthorized("sign-in is required")
    return identity


async def audit(request: web.Request, action: str, *, stack: str = "", target: str = "",
                detail: dict[str, Any] | None = None) -> None:
    """Append to the audit trail: `await audit(request, "stack.create", stack="shop")`.

    Actions are `noun.verb` (user.create, token.revoke, deployment.start, ...). Never put a
    secret value in `detail`.
    """
    identity = request.get(IDENTITY)
    actor = identity.name if identity is not None else ANONYMOUS
    if identity is not None and identity.via == "token":
        detail = {**(detail or {}), "token": identity.token_id}
    await request.app[STORE].audit.record(actor, action, stack=stack, target=target,
                                          address=client_address(request), detail=detail)


def require(request: web.Request, level: str, stack: str | None) -> Identity:
    """For handlers whose stack is in the body: raise unless the caller holds `level` there."""
    identity = signed_in(request)
    if not allowed(identity, level, stack):
        where = f" on stack {stack!r}" if stack else ""
        raise Forbidden(f"{identity.name} may not do this: it needs {level}{where}",
                        detail={"needs": level, "stack": stack})
    return identity
