"""Docker-style token auth for the registry: `GET /v2/token` and the internal pull token.

`docker login HOST` sends Basic credentials here and gets a short-lived signed token; the
token carries the user and, per repository, the actions their stack roles allow
(pull = read, push = deploy, delete = stack_admin). With `registry_anonymous_pull` on, a
request without credentials gets a token that pulls.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from c66d.auth.credentials import ANONYMOUS
from c66d.auth.crypto import sign_registry_token
from c66d.auth.identity import IDENTITY, Identity, allowed
from c66d.auth.state import AUTH, REGISTRY_TOKEN_TTL
from c66d.keys import CONFIG
from c66d.logs import get_logger
from c66d.web.access import access
from c66d.web.api import json_response

INTERNAL_PULLER = "c66d-internal"
RESERVED_NAMES = frozenset({ANONYMOUS, INTERNAL_PULLER})
log = get_logger("c66d.auth.registry")


def parse_scope(text: str) -> tuple[str, str, list[str]] | None:
    """`repository:shop/web:pull,push` -> ("repository", "shop/web", ["pull", "push"])."""
    kind, _, rest = text.partition(":")
    name, _, actions = rest.rpartition(":")
    if not kind or not name:
        return None
    return kind, name, [a for a in actions.split(",") if a]


def granted_actions(identity: Identity | None, name: str, wanted: list[str], *,
                    anonymous_pull: bool) -> list[str]:
    """The subset of `wanted` the caller may do on repository `name` (stack = first segment)."""
    stack = name.split("/")[0]
    may = {
        "pull": allowed(identity, "read", stack) or anonymous_pull,
        "push": allowed(identity, "deploy", stack),
        "delete": allowed(identity, "stack_admin", stack),
        "*": allowed(identity, "stack_admin", stack),
    }
    return [action for action in wanted if may.get(action, False)]


@access("public", stack_param=None)
async def token_endpoint(request: web.Request) -> web.Response:
    """`GET /v2/token?service=c66d&scope=repository:NAME:pull,push` (credentials: Basic)."""
    identity = request.get(IDENTITY)
    anonymous_pull = request.app[CONFIG].registry_anonymous_pull
    grants: list[dict[str, Any]] = []
    for text in request.query.getall("scope", []):
        for one in text.split(" "):
            parsed = parse_scope(one)
            if parsed is None or parsed[0] != "repository":
                continue
            _, name, wanted = parsed
            actions = granted_actions(identity, name, wanted, anonymous_pull=anonymous_pull)
            grants.append({"type": "repository", "name": name, "actions": actions})
    subject = identity.name if identity is not None else ANONYMOUS
    is_admin = identity is not None and identity.is_admin and identity.scope in (None, "admin")
    token = sign_registry_token(request.app[AUTH].registry_key, subject, grants,
                                ttl=REGISTRY_TOKEN_TTL, is_admin=is_admin)
    log.info("registry token for %s: %s", subject,
             " ".join(f"{g['name']}:{','.join(g['actions'])}" for g in grants) or "(no scope)")
    issued = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return json_response({"token": token, "access_token": token,
                          "expires_in": int(REGISTRY_TOKEN_TTL), "issued_at": issued})


def internal_pull_token(app: web.Application, ttl: float = 3600.0) -> str:
    """A token that pulls every repository, for c66d's own servers pulling through the tunnel.

    Use it as Bearer token, or as Basic password with the user name `c66d-internal`, e.g. with
    aiodocker: `images.pull(ref, auth={"username": "c66d-internal", "password": token})`.
    """
    return sign_registry_token(app[AUTH].registry_key, INTERNAL_PULLER,
                               [{"type": "repository", "name": "*", "actions": ["pull"]}],
                               ttl=ttl)
