"""BuildGrid end to end: a real git repository, the real Docker engine, the built-in registry."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import pytest

from c66d.keys import EVENTS, STORE
from tests.support.gitrepo import (
    MakeGrid,
    add_stack,
    base,
    finished,
    grid_factory,
    make_repo,
    skopeo_digest,
    start_build,
)
from tests.support.http import ADMIN, ADMIN_PASSWORD


@pytest.fixture
async def make_grid(tmp_path: Path, docker_engine: str) -> AsyncIterator[MakeGrid]:
    async with grid_factory(tmp_path) as make:
        yield make


async def test_each_commit_becomes_an_image_in_the_registry(
        make_grid: MakeGrid, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "src", dockerfile_extra="COPY version.txt /version.txt\n")
    first = repo.head()
    repo.write("version.txt", "2\n")
    second = repo.commit("Second version")
    client = await make_grid()
    await add_stack(client, repo)
    with client.app[EVENTS].subscribe(["build."]) as events:
        ids = [await start_build(client, first), await start_build(client, second)]
        builds = [await finished(client, i) for i in ids]
        kinds = [events.queue.get_nowait().kind for _ in range(events.queue.qsize())]
    for build, sha in zip(builds, (first, second), strict=True):
        assert build["status"] == "succeeded", build["reason"]
        assert build["commit"]["sha"] == sha and build["commit"]["author"].startswith("Ada")
        assert build["digest"].startswith("sha256:")
        assert build["image"] == f"127.0.0.1:{client.port}/shop/web:{sha}"
        assert await skopeo_digest(client, f"shop/web:{sha}") == build["digest"]
    assert builds[0]["digest"] != builds[1]["digest"]
    tags = {t.tag: t for t in await client.app[STORE].registry.tags("shop/web")}
    for build, sha in zip(builds, (first, second), strict=True):  # image -> build and commit
        assert (tags[sha].build_id, tags[sha].git_commit) == (build["id"], sha)
    assert builds[1]["commit"]["message"] == "Second version"
    assert kinds.count("build.queued") == 2 and kinds.count("build.finished") == 2

    log = await (await client.get(f"/api/v1/builds/{ids[1]}/log", headers=ADMIN)).text()
    assert "Step 1/4 : FROM scratch" in log and "Step 4/4 : COPY version.txt" in log
    assert "build succeeded" in log.splitlines()[-1]

    listed = await (await client.get("/api/v1/builds?stack=shop&status=succeeded&limit=1",
                                     headers=ADMIN)).json()
    assert [b["id"] for b in listed["items"]] == [ids[1]] and listed["next"] == str(ids[1])
    older = await (await client.get(f"/api/v1/builds?stack=shop&cursor={listed['next']}",
                                    headers=ADMIN)).json()
    assert [b["id"] for b in older["items"]] == [ids[0]]

    # the branch head: tagged with the commit and the branch
    head = await finished(client, await start_build(client))
    assert head["branch"] == "main" and head["commit"]["sha"] == second
    assert await skopeo_digest(client, "shop/web:main") == head["digest"]


async def test_follow_streams_the_log_until_the_build_ends(
        make_grid: MakeGrid, tmp_path: Path) -> None:
    slow = "COPY nonce /nonce\nRUN echo one-$((1+1)) && sleep 1 && echo two-$((2+2))\n"
    repo = make_repo(tmp_path / "src", dockerfile_extra=slow, files={"nonce": uuid4().hex})
    client = await make_grid()
    await add_stack(client, repo)
    build_id = await start_build(client)
    resp = await client.get(f"/api/v1/builds/{build_id}/log?follow=1", headers=ADMIN)
    assert resp.headers["Transfer-Encoding"] == "chunked"
    chunks = [chunk async for chunk in resp.content.iter_any()]
    text = b"".join(chunks).decode()
    assert len(chunks) > 1
    assert "one-2\n" in text and "two-4\n" in text and "build succeeded" in text
    assert text.index("one-2\n") < text.index("two-4\n") < text.index("build succeeded")


async def _c66d(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "c66d", *args, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_cli_builds_and_follows_then_lists(make_grid: MakeGrid, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "src")
    client = await make_grid()
    await add_stack(client, repo)
    env = {"C66D_URL": base(client), "C66D_PASSWORD": ADMIN_PASSWORD}
    code, out, err = await _c66d("build", "shop", "web", "--follow", env=env)
    assert code == 0, err
    assert "build 1 queued: shop/web at main" in out
    assert "Step 1/3 : FROM scratch" in out
    assert f"build 1 succeeded: 127.0.0.1:{client.port}/shop/web:{repo.head()}@sha256:" in out
    code, out, _ = await _c66d("builds", "--stack", "shop", env=env)
    assert code == 0 and "succeeded" in out and repo.head()[:12] in out
    code, _, err = await _c66d("build", "shop", "nope", env=env)
    assert code == 1 and "no service 'nope'" in err
    code, _, err = await _c66d("builds", env={**env, "C66D_PASSWORD": "wrong-password"})
    assert code == 1 and "401" in err
