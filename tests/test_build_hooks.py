"""Push webhooks from GitHub, GitLab and Gitea/Forgejo, with right, wrong and no signatures."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from c66d.build.hooks import HookRefused, normalise_url, parse_push, provider_of, verify
from c66d.keys import STORE
from tests.support.gitrepo import (
    GitRepo,
    MakeGrid,
    finished,
    grid_factory,
    make_repo,
    service_yml,
    skopeo_digest,
)
from tests.support.http import ADMIN


@pytest.fixture
async def make_grid(tmp_path: Path, docker_engine: str) -> AsyncIterator[MakeGrid]:
    async with grid_factory(tmp_path) as make:
        yield make


def github_push(repo: GitRepo, sha: str, branch: str = "main") -> dict[str, Any]:
    """Shaped like GitHub's documented `push` event."""
    return {
        "ref": f"refs/heads/{branch}", "before": "0" * 39 + "1", "after": sha,
        "created": False, "deleted": False, "forced": False,
        "repository": {"id": 1, "name": "src", "full_name": "acme/src", "private": True,
                       "html_url": "https://github.com/acme/src", "clone_url": repo.url,
                       "ssh_url": "git@github.com:acme/src.git",
                       "git_url": "git://github.com/acme/src.git", "default_branch": "main"},
        "pusher": {"name": "ada", "email": "ada@example.test"},
        "sender": {"login": "ada", "id": 7},
        "head_commit": {"id": sha, "message": "Second version",
                        "timestamp": "2024-01-01T00:00:00Z"},
        "commits": [{"id": sha, "message": "Second version"}],
    }


def gitlab_push(repo: GitRepo, sha: str) -> dict[str, Any]:
    """Shaped like GitLab's documented `Push Hook`."""
    return {
        "object_kind": "push", "event_name": "push", "before": "0" * 39 + "1", "after": sha,
        "ref": "refs/heads/main", "checkout_sha": sha, "user_username": "ada",
        "user_name": "Ada Tester", "project_id": 15,
        "project": {"id": 15, "name": "src", "web_url": "https://gitlab.example/acme/src",
                    "git_ssh_url": "git@gitlab.example:acme/src.git", "git_http_url": repo.url,
                    "path_with_namespace": "acme/src", "default_branch": "main"},
        "repository": {"name": "src", "url": "git@gitlab.example:acme/src.git",
                       "homepage": "https://gitlab.example/acme/src", "git_http_url": repo.url,
                       "git_ssh_url": "git@gitlab.example:acme/src.git"},
        "commits": [{"id": sha, "message": "Second version"}], "total_commits_count": 1,
    }


def gitea_push(repo: GitRepo, sha: str) -> dict[str, Any]:
    """Shaped like Gitea's / Forgejo's documented `push` event."""
    return {
        "ref": "refs/heads/main", "before": "0" * 39 + "1", "after": sha,
        "compare_url": "https://gitea.example/acme/src/compare/x...y",
        "commits": [{"id": sha, "message": "Second version\n"}],
        "repository": {"id": 3, "name": "src", "full_name": "acme/src",
                       "html_url": "https://gitea.example/acme/src",
                       "ssh_url": "git@gitea.example:acme/src.git", "clone_url": repo.url},
        "pusher": {"id": 1, "login": "ada", "username": "ada"},
        "sender": {"id": 1, "login": "ada", "username": "ada"},
    }


def signed(provider: str, body: bytes, secret: str) -> dict[str, str]:
    mac = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "github": {"X-GitHub-Event": "push", "X-Hub-Signature-256": f"sha256={mac}"},
        "gitlab": {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": secret},
        "gitea": {"X-Gitea-Event": "push", "X-Gitea-Signature": mac},
    }[provider]


async def test_pushes_from_each_provider_build_matching_services(
        make_grid: MakeGrid, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "src", dockerfile_extra="COPY version.txt /version.txt\n")
    repo.write("version.txt", "2\n")
    sha = repo.commit("Second version")
    client = await make_grid()
    yml = service_yml({
        "web": {"git_url": repo.url, "git_branch": "main"},
        "worker": {"git_url": str(repo.path) + "/", "git_branch": "main"},
        "docs": {"git_url": repo.url, "git_branch": "dev"},
        "other": {"git_url": "https://github.com/acme/other.git", "git_branch": "main"},
    })
    resp = await client.post("/api/v1/stacks", json={"name": "shop", "service_yml": yml},
                             headers=ADMIN)
    assert resp.status == 201, await resp.text()
    secret = (await (await client.get("/api/v1/stacks/shop/hook", headers=ADMIN)).json())["secret"]
    payloads = {"github": github_push(repo, sha), "gitlab": gitlab_push(repo, sha),
                "gitea": gitea_push(repo, sha)}
    queued: list[dict[str, Any]] = []
    for provider, payload in payloads.items():
        body = json.dumps(payload).encode()
        wrong = signed(provider, body, "not-the-secret")
        resp = await client.post("/api/v1/hooks/shop", data=body, headers=wrong)
        assert resp.status == 401, provider
        assert (await resp.json())["error"]["code"] == "HOOK_REFUSED"
        event_only = {k: v for k, v in wrong.items() if k.endswith("Event")}
        assert (await client.post("/api/v1/hooks/shop", data=body,
                                  headers=event_only)).status == 401
        resp = await client.post("/api/v1/hooks/shop", data=body,
                                 headers=signed(provider, body, secret))
        assert resp.status == 202, await resp.text()
        builds = (await resp.json())["builds"]
        assert sorted(b["service"] for b in builds) == ["web", "worker"], provider
        assert all(b["ref"] == sha and b["trigger"] == f"hook:{provider}" for b in builds)
        queued.extend(builds)

    results = [await finished(client, b["id"]) for b in queued]
    assert {r["status"] for r in results} <= {"succeeded", "cancelled"}
    last_web = max((r for r in results if r["service"] == "web"), key=lambda r: r["id"])
    assert last_web["status"] == "succeeded" and last_web["commit"]["sha"] == sha
    assert await skopeo_digest(client, f"shop/web:{sha}") == last_web["digest"]
    refused = [e for e in await client.app[STORE].audit.query(stack="shop")
               if e.action == "hook.refused"]
    assert len(refused) == 6

    assert (await client.post("/api/v1/hooks/nostack", data=b"{}",
                              headers=signed("github", b"{}", secret))).status == 401
    tag = {**payloads["github"], "ref": "refs/tags/v1"}
    body = json.dumps(tag).encode()
    resp = await client.post("/api/v1/hooks/shop", data=body,
                             headers=signed("github", body, secret))
    assert resp.status == 200 and (await resp.json())["builds"] == []


def test_signatures_are_checked_per_provider() -> None:
    body, secret = b'{"ref":"refs/heads/main"}', "s3cret"
    for provider in ("github", "gitlab", "gitea"):
        headers = signed(provider, body, secret)
        assert provider_of(headers) == provider
        verify(provider, headers, body, secret)
        with pytest.raises(HookRefused):
            verify(provider, headers, body + b" ", secret) if provider != "gitlab" else \
                verify(provider, headers, body, "other")
    forgejo = {"X-Forgejo-Event": "push",
               "X-Forgejo-Signature": hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()}
    verify(provider_of(forgejo), forgejo, body, secret)
    with pytest.raises(HookRefused, match="unsigned"):
        provider_of({"Content-Type": "application/json"})


def test_repository_urls_compare_across_forms() -> None:
    same = ["https://github.com/Acme/src.git", "git@github.com:Acme/src.git",
            "ssh://git@GitHub.com:22/Acme/src", "https://user@github.com/Acme/src/"]
    assert {normalise_url(u) for u in same} == {"github.com/Acme/src"}
    assert normalise_url("file:///srv/repos/src") == normalise_url("/srv/repos/src/") \
        == "/srv/repos/src"
    push = parse_push("gitlab", {"X-Gitlab-Event": "Tag Push Hook"},
                      json.dumps({"ref": "refs/tags/v1", "after": "ab" * 20}).encode())
    assert (push.event, push.branch) == ("tag push hook", "")
