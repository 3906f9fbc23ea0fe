"""Controlling builds: cancel (queued and running), supersede, time limit, why a build failed."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiodocker
import pytest

from tests.support.gitrepo import (
    Client,
    GitSshServer,
    MakeGrid,
    add_stack,
    base,
    finished,
    grid_factory,
    make_repo,
    start_build,
    start_sshd,
    wait_log,
)
from tests.support.http import ADMIN

SLEEPY = "RUN echo sleeping-$((1+1)) && sleep 60\n"


@pytest.fixture
async def make_grid(tmp_path: Path, docker_engine: str) -> AsyncIterator[MakeGrid]:
    async with grid_factory(tmp_path) as make:
        yield make


async def _running_container(client: Client, build_id: int) -> str:
    log = await wait_log(client.session, base(client), build_id, "sleeping-2", headers=ADMIN)
    return re.findall(r"Running in ([0-9a-f]+)", log)[-1]


async def _gone(container: str, within: float = 15.0) -> bool:
    """True when the engine no longer runs the container (removed or stopped)."""
    docker = aiodocker.Docker()
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                info = await docker.containers.get(container)
            except aiodocker.DockerError:
                return True
            if not info["State"]["Running"]:
                return True
            await asyncio.sleep(0.2)
        return False
    finally:
        await docker.close()


async def test_cancel_running_and_queued_builds_and_supersede(
        make_grid: MakeGrid, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "src", dockerfile_extra=SLEEPY)
    client = await make_grid(build_concurrency=1)
    await add_stack(client, repo)
    running = await start_build(client)
    container = await _running_container(client, running)

    older, newer = await start_build(client), await start_build(client)  # both follow main
    superseded = await finished(client, older)
    assert (superseded["status"], superseded["reason"]) == (
        "cancelled", f"superseded by build {newer}")
    resp = await client.post(f"/api/v1/builds/{newer}/cancel", headers=ADMIN)
    assert resp.status == 200 and (await resp.json())["status"] == "cancelled"

    started = time.monotonic()
    resp = await client.post(f"/api/v1/builds/{running}/cancel", headers=ADMIN)
    body = await resp.json()
    assert resp.status == 200 and body["status"] == "cancelled", body
    assert body["reason"] == "cancelled by admin"
    assert time.monotonic() - started < 15
    assert await _gone(container), "the engine kept running the cancelled build's RUN step"
    log = await (await client.get(f"/api/v1/builds/{running}/log", headers=ADMIN)).text()
    assert log.splitlines()[-1].endswith("build cancelled: cancelled by admin")
    again = await client.post(f"/api/v1/builds/{running}/cancel", headers=ADMIN)
    assert again.status == 409


async def test_time_limit_fails_the_build_and_stops_the_engine(
        make_grid: MakeGrid, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "src", dockerfile_extra=SLEEPY)
    client = await make_grid(build_timeout=4.0)
    await add_stack(client, repo)
    build_id = await start_build(client)
    container = await _running_container(client, build_id)
    build = await finished(client, build_id, timeout=30)
    assert (build["status"], build["reason"]) == ("failed", "timed out after 4 s")
    assert await _gone(container)


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[GitSshServer]:
    server = start_sshd(tmp_path / "sshd")
    yield server
    server.stop()


async def test_each_failure_says_why_in_the_last_log_line(
        make_grid: MakeGrid, tmp_path: Path, sshd: GitSshServer) -> None:
    client = await make_grid()
    failing = make_repo(tmp_path / "failing", dockerfile_extra="RUN echo about to fail; exit 3\n")
    await add_stack(client, failing, "failrun")
    await add_stack(client, failing, "nodock", dockerfile_path="deploy/Dockerfile")
    private = make_repo(tmp_path / "private")
    await add_stack(client, private, "private")
    yml = f"services:\n  web:\n    git_url: {sshd.url(private)}\n    git_branch: main\n"
    await client.put("/api/v1/stacks/private", json={"service_yml": yml}, headers=ADMIN)
    expected = {
        "failrun": "a RUN step failed with exit code 3",
        "nodock": "no Dockerfile at 'deploy/Dockerfile'",
        "private": "git authentication failed for ssh://root@127.0.0.1",
    }
    ids = {stack: await start_build(client, stack=stack) for stack in expected}
    for stack, why in expected.items():
        build = await finished(client, ids[stack])
        assert build["status"] == "failed" and why in build["reason"], build
        log = await (await client.get(f"/api/v1/builds/{ids[stack]}/log", headers=ADMIN)).text()
        assert why in log.splitlines()[-1]
    assert "Permission denied (publickey)" in build["reason"]

    # the stack's deploy key, once the git host knows it, opens the repository
    key = await (await client.get("/api/v1/stacks/private/deploy-key", headers=ADMIN)).json()
    assert key["public_key"].startswith("ssh-ed25519 ")
    sshd.authorize(key["public_key"])
    build = await finished(client, await start_build(client, stack="private"))
    assert build["status"] == "succeeded", build["reason"]


async def test_no_space_left_is_the_reason(make_grid: MakeGrid, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "src")
    repo.write("big.bin", os.urandom(3_000_000))
    repo.commit("a big file")
    client = await make_grid()
    repos = tmp_path / "data0" / "builds" / "repos"
    repos.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(repos)], check=True)
    try:
        await add_stack(client, repo)
        build = await finished(client, await start_build(client))
    finally:
        subprocess.run(["umount", "-l", str(repos)], check=True)
    assert build["status"] == "failed"
    assert "No space left on device" in build["reason"], build["reason"]
