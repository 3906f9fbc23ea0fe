"""Push webhooks from GitHub, GitLab and Gitea/Forgejo: signatures and payloads (pure)."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from c66d import jsonio
from c66d.errors import Invalid, Unauthorized

ZERO_SHA = "0" * 40


class HookRefused(Unauthorized):
    """The hook is unsigned or its signature does not match the stack's secret."""

    code = "HOOK_REFUSED"


@dataclass(frozen=True)
class Push:
    provider: str
    event: str  # "push", or another event the provider sent (ping, tag push, ...)
    branch: str  # "" when the ref is not a branch
    sha: str
    repository_urls: tuple[str, ...]
    pusher: str


def provider_of(headers: Mapping[str, str]) -> str:
    if "X-Gitea-Event" in headers or "X-Forgejo-Event" in headers \
            or "X-Gitea-Signature" in headers or "X-Forgejo-Signature" in headers:
        return "gitea"
    if "X-Gitlab-Event" in headers or "X-Gitlab-Token" in headers:
        return "gitlab"
    if "X-GitHub-Event" in headers or "X-Hub-Signature-256" in headers:
        return "github"
    raise HookRefused("unsigned hook: no GitHub, GitLab or Gitea/Forgejo signature header")


def _hmac_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(provider: str, headers: Mapping[str, str], body: bytes, secret: str) -> None:
    """Raise HookRefused unless the hook carries the right signature for `secret`."""
    if provider == "github":
        given = headers.get("X-Hub-Signature-256", "")
        expected = "sha256=" + _hmac_hex(secret, body)
    elif provider == "gitlab":
        given = headers.get("X-Gitlab-Token", "")
        expected = secret
    else:
        given = headers.get("X-Gitea-Signature") or headers.get("X-Forgejo-Signature", "")
        expected = _hmac_hex(secret, body)
    if not given:
        raise HookRefused(f"unsigned {provider} hook")
    if not secret or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise HookRefused(f"wrong signature on {provider} hook")


def _event(provider: str, headers: Mapping[str, str]) -> str:
    raw = {
        "github": headers.get("X-GitHub-Event", "push"),
        "gitlab": headers.get("X-Gitlab-Event", "Push Hook"),
        "gitea": headers.get("X-Gitea-Event") or headers.get("X-Forgejo-Event", "push"),
    }[provider]
    return "push" if raw.lower() in {"push", "push hook"} else raw.lower()


def parse_push(provider: str, headers: Mapping[str, str], body: bytes) -> Push:
    try:
        data = jsonio.loads(body)
    except jsonio.JSONDecodeError as exc:
        raise Invalid(f"hook body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise Invalid("hook body must be a JSON object")
    ref = str(data.get("ref", ""))
    branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else ""
    sha = str(data.get("after") or data.get("checkout_sha") or "")
    return Push(provider, _event(provider, headers), branch, sha,
                _repository_urls(data), _pusher(data))


def _repository_urls(data: dict[str, Any]) -> tuple[str, ...]:
    urls: list[str] = []
    for section in ("repository", "project"):
        block = data.get(section)
        if not isinstance(block, dict):
            continue
        for key in ("clone_url", "ssh_url", "git_url", "html_url", "git_http_url",
                    "git_ssh_url", "http_url", "ssh_url", "url", "web_url", "homepage"):
            value = block.get(key)
            if isinstance(value, str) and value and value not in urls:
                urls.append(value)
    return tuple(urls)


def _pusher(data: dict[str, Any]) -> str:
    for key in ("pusher", "sender"):
        block = data.get(key)
        if isinstance(block, dict):
            name = block.get("name") or block.get("login") or block.get("username")
            if name:
                return str(name)
    return str(data.get("user_username") or data.get("user_name") or "")


_SCP = re.compile(r"^(?:[^@/]+@)?([^:/]+):(?!\d+/)(.+)$")


def normalise_url(url: str) -> str:
    """A repository URL reduced to `host/path` (no scheme, user, port, `.git`, case of host).

    `https://github.com/o/r.git`, `git@github.com:o/r.git` and `ssh://git@github.com:22/o/r`
    all become `github.com/o/r`; `file:///srv/r` and `/srv/r` become `/srv/r`.
    """
    url = url.strip().rstrip("/")
    if url.startswith("file://"):
        path = url[len("file://"):]
    elif "://" in url:
        rest = url.split("://", 1)[1]
        host, _, path = rest.partition("/")
        host = host.rsplit("@", 1)[-1].split(":")[0].lower()
        path = f"{host}/{path}"
    elif m := _SCP.match(url):
        path = f"{m.group(1).lower()}/{m.group(2)}"
    else:
        path = url
    return path.removesuffix(".git").rstrip("/")


def names_repository(push: Push, git_url: str) -> bool:
    wanted = normalise_url(git_url)
    return any(normalise_url(u) == wanted for u in push.repository_urls)
