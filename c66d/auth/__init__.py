"""Access control: users, teams, roles per stack, API tokens, UI sessions, registry tokens,
and the audit trail.

What other subsystems use:
- `IDENTITY`: `request.get(IDENTITY)` is the signed-in `Identity` (None when anonymous).
- `allowed(identity, level, stack)`: the one rule; `require(request, level, stack)` raises.
- `audit(request, action, stack=..., target=..., detail=...)`: record a state change.
- `internal_pull_token(app)`: a registry token c66d's servers pull with.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from c66d.auth import api, pages, ui
from c66d.auth.audit import audit, identity_of, require, signed_in
from c66d.auth.bootstrap import ensure_admin
from c66d.auth.identity import IDENTITY, Identity, allowed, readable_stacks
from c66d.auth.middleware import auth_middleware
from c66d.auth.registry import internal_pull_token, token_endpoint
from c66d.auth.state import AUTH, AuthState, load_or_create_key
from c66d.keys import CONFIG, DATA_DIR, STATUS_PROBES, STORE

__all__ = ["IDENTITY", "Identity", "allowed", "audit", "identity_of", "internal_pull_token",
           "readable_stacks", "require", "setup", "signed_in"]


async def _auth_ctx(app: web.Application) -> AsyncIterator[None]:
    await ensure_admin(app[STORE], app[CONFIG], app[DATA_DIR])
    yield


def setup(app: web.Application) -> None:
    key = load_or_create_key(app[DATA_DIR].keys / "registry-token.key")
    app[AUTH] = AuthState(registry_key=key)
    app.middlewares.append(auth_middleware)
    app.cleanup_ctx.append(_auth_ctx)
    app.router.add_get("/v2/token", token_endpoint, name="registry.token")
    api.setup(app)
    ui.setup(app)
    pages.setup(app)

    async def probe() -> dict[str, object]:
        return {"state": "ok", "users": await app[STORE].auth.user_count()}

    app[STATUS_PROBES]["auth"] = probe
