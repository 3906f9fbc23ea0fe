"""What every UI page module shares: form reading, redirects, template filters, `can()`."""

from __future__ import annotations

import time
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from c66d.auth.identity import allowed
from c66d.auth.middleware import CSRF_FIELD, current_identity
from c66d.errors import NotFound


async def form(request: web.Request) -> dict[str, str]:
    """The posted form as plain strings (the CSRF field left out)."""
    data = await request.post()
    return {k: str(v) for k, v in data.items() if k != CSRF_FIELD}


def see_other(path: str) -> web.HTTPSeeOther:
    """After a successful POST: go to `path` (raise the result)."""
    return web.HTTPSeeOther(path)


def render(request: web.Request, template: str, context: dict[str, Any], *,
           status: int = 200) -> web.Response:
    return aiohttp_jinja2.render_template(template, request, context, status=status)


def number(request: web.Request, name: str = "id") -> int:
    raw = request.match_info[name]
    if not raw.isdigit():
        raise NotFound(f"no {name} {raw!r}")
    return int(raw)


def when(t: float | None) -> str:
    if not t:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def ago(t: float | None) -> str:
    if not t:
        return ""
    seconds = max(0, int(time.time() - t))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def size(n: int | None) -> str:
    if n is None:
        return ""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def short(digest: str | None, n: int = 12) -> str:
    if not digest:
        return ""
    return digest.split(":", 1)[-1][:n]


# What an event's line shows, in this order; ids, digests and the stack (a link) are left out.
EVENT_FIELDS = (("number", "deployment #{}"), ("build", "build #{}"), ("service", "{}"),
                ("name", "{}"), ("server", "on {}"), ("address", "{}"), ("step", "{}"),
                ("status", "{}"), ("repository", "{}"), ("tag", "tag {}"), ("count", "x{}"),
                ("docker_version", "Docker {}"), ("message", "— {}"), ("reason", "— {}"))


def event_summary(data: dict[str, Any]) -> str:
    """A short line for an event, e.g. `deployment #3 web on local start ok — shop-web-3-1`."""
    parts = [form.format(data[key]) for key, form in EVENT_FIELDS
             if data.get(key) not in (None, "", [], {})]
    return " ".join(parts)


def can(level: str, stack: str | None = None) -> bool:
    """In templates: show a control only to who may use it (the route checks again)."""
    return allowed(current_identity.get(), level, stack)


def install(app: web.Application) -> None:
    env = aiohttp_jinja2.get_env(app)
    env.filters.update({"when": when, "ago": ago, "size": size, "short": short,
                        "event_summary": event_summary})
    env.globals["can"] = can
